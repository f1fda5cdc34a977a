from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.http import HttpRequest, HttpResponse

from admin_rbac.auditing import AuditedAdmin

from .models import ApiKey, User


@admin.register(User)
class OperatorUserAdmin(AuditedAdmin, UserAdmin):  # type: ignore[type-arg]
    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # The password change and its audit entry commit together.
        with transaction.atomic():
            return super().user_change_password(request, id, form_url)


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdmin):
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
