from __future__ import annotations

from django.contrib import admin

from .models import Asset


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name", "precision")
    search_fields = ("code", "name")
