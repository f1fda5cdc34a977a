"""Shared admin building blocks: read-only history pages and amounts at their asset's scale."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest

from exchange_site.money import fmt


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """History that must not change: viewable, never added, edited or deleted from the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def amount(value: Decimal | None, precision: int) -> str:
    """An amount at its asset's precision (NUMERIC(36, 18) columns carry 18 places), blank for
    None."""
    return "" if value is None else fmt(value, precision)


def market_amount(field: str, side: str, description: str) -> Callable[[Any, Any], str]:
    """An admin column showing `obj.<field>` at the precision of `obj.market`'s base or quote
    asset (`side`); select_related("market__base", "market__quote") where listed."""

    def show(modeladmin: Any, obj: Any) -> str:
        market = obj.market
        asset = market.base if side == "base" else market.quote
        return amount(getattr(obj, field), asset.precision)

    return admin.display(description=description)(show)


def plain(value: Decimal | None) -> str:
    """A rate or size without trailing zeros ("0.001", "0.01")."""
    return "" if value is None else f"{value.normalize():f}"


class PlainDecimalsForm(forms.ModelForm):  # type: ignore[type-arg]
    """Shows stored decimals without the column's 18-place scale ("0.01", not
    "0.010000000000000000")."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, value in list(self.initial.items()):
            if isinstance(value, Decimal):
                self.initial[name] = plain(value)


class UserInputFilter(admin.SimpleListFilter):
    """A changelist filter on a username typed in a box (a list of every user would be too
    long). `user_fields` are the lookups to the user (e.g. ("buyer", "seller") for trades)."""

    title = "user"
    parameter_name = "user"
    template = "admin/input_filter.html"
    user_fields: tuple[str, ...] = ("user",)

    def __init__(self, request: HttpRequest, params: Any, model: Any, model_admin: Any) -> None:
        super().__init__(request, params, model, model_admin)
        self.other_params = [
            (k, v) for k, v in request.GET.items() if k not in (self.parameter_name, "p")
        ]

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("", "")]  # rendered as a text box by the template

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        value = self.value()
        if not value:
            return queryset
        cond = Q()
        for field in self.user_fields:
            cond |= Q(**{f"{field}__username": value})
        return queryset.filter(cond)


def user_input_filter(*fields: str) -> type[UserInputFilter]:
    return type("UserFilter", (UserInputFilter,), {"user_fields": fields})
