from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from admin_rbac.auditing import AuditedAdmin

from .models import Asset


class AssetForm(forms.ModelForm):  # type: ignore[type-arg]
    def clean_precision(self) -> int:
        precision = int(self.cleaned_data["precision"])
        old = self.instance.precision if self.instance.pk else None
        if old is not None and precision < old:
            # Balances, holds and market sizes are exact at the old scale: never fewer places.
            raise forms.ValidationError(f"precision can only grow (now {old})")
        return precision


@admin.register(Asset)
class AssetAdmin(AuditedAdmin):
    form = AssetForm
    list_display = ("code", "name", "precision")
    search_fields = ("code", "name")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Market symbols are made of asset codes: a code is fixed once the asset exists.
        return ("code",) if obj is not None else ()
