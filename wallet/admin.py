from __future__ import annotations

from django.contrib import admin

from admin_rbac.auditing import AuditedAdmin

from .models import Asset


@admin.register(Asset)
class AssetAdmin(AuditedAdmin):
    list_display = ("code", "name", "precision")
    search_fields = ("code", "name")
