from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import ApiKey, User

admin.site.register(User, UserAdmin)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "key",
        "user",
        "label",
        "can_read",
        "can_trade",
        "can_withdraw",
        "tier",
        "enabled",
        "last_used_at",
    )
    list_filter = ("enabled", "tier", "can_trade", "can_withdraw")
    search_fields = ("key", "user__username", "label")
    exclude = ("secret_encrypted",)
    readonly_fields = ("key", "user", "created_at", "last_used_at")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # keys are issued through the trader UI or `manage.py issue_api_key`
