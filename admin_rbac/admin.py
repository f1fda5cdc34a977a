from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from exchange_site.admin_utils import ReadOnlyAdmin

from .auditing import AuditedAdmin
from .models import AuditEntry, UserFlag
from .roles import ROLES


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log: read-only (the table itself refuses UPDATE and DELETE)."""

    list_display = ("id", "created_at", "actor_name", "action", "target", "reason", "ip")
    list_filter = (
        "action",
        "target_type",
        ("actor", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    search_fields = ("=target_id", "target_repr", "actor_name", "reason", "=ip")
    date_hierarchy = "created_at"
    fields = (
        "created_at", "actor", "actor_name", "ip", "action", "target_type", "target_id",
        "target_repr", "subject_user", "reason", "changes",
    )  # fmt: skip
    readonly_fields = fields
    list_select_related = ("actor",)
    show_full_result_count = False

    @admin.display(description="target")
    def target(self, entry: AuditEntry) -> str:
        if not entry.target_type:
            return "-"
        return f"{entry.target_type} {entry.target_id} ({entry.target_repr})"

    @admin.display(description="before -> after")
    def changes(self, entry: AuditEntry) -> Any:
        keys = list(dict.fromkeys([*(entry.before or {}), *(entry.after or {})]))
        if not keys:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
            ((k, _show(entry.before, k), _show(entry.after, k)) for k in keys),
        )
        return format_html(
            "<table><tr><th>field</th><th>before</th><th>after</th></tr>{}</table>", rows
        )


def _show(side: dict[str, Any] | None, key: str) -> str:
    if side is None or key not in side:
        return ""
    return json.dumps(side[key], ensure_ascii=False)


@admin.register(UserFlag)
class UserFlagAdmin(ReadOnlyAdmin):
    """Abnormal-behaviour flags (admin_rbac.behaviour), newest first."""

    list_display = ("user", "kind", "value", "detail", "occurrences", "first_seen", "last_seen")
    list_filter = ("kind", "last_seen")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    ordering = ("-last_seen",)


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(AuditedAdmin, GroupAdmin):
    """Groups, audited. The role groups are defined in admin_rbac/roles.py and synced on every
    migrate, so they are read-only here (an edit would silently be undone)."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.name in ROLES:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.name in ROLES:
            return False
        return super().has_delete_permission(request, obj)


admin.site.site_header = "Exchange back office"
admin.site.site_title = "Exchange back office"
admin.site.index_title = "Operations"
