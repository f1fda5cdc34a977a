from __future__ import annotations

from django.contrib import admin

from exchange_site.admin_utils import ReadOnlyAdmin

from .models import LedgerAccount, LedgerTransaction, Posting


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "asset", "kind", "balance")
    list_filter = ("kind", "asset")
    search_fields = ("user__username",)
    list_select_related = ("user", "asset")


class PostingInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Posting
    extra = 0
    can_delete = False
    readonly_fields = ("account", "asset", "amount")

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "key", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("key",)
    inlines = (PostingInline,)
