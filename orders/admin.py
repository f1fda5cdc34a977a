from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from exchange_site.admin_utils import ReadOnlyAdmin

from .models import Market, Order, Trade
from .services import market_set_status


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def save_model(self, request: HttpRequest, obj: Market, form: Any, change: bool) -> None:
        """A status change goes through the kill-switch service, so the engine gets it too."""
        super().save_model(request, obj, form, change)
        if change and "status" in form.changed_data:
            market_set_status(market_id=obj.pk, status=obj.status)

    list_display = (
        "symbol",
        "status",
        "tick_size",
        "step_size",
        "min_notional",
        "maker_fee",
        "taker_fee",
        "price_band_pct",
    )
    list_filter = ("status",)
    search_fields = ("symbol",)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "market",
        "user",
        "side",
        "type",
        "price",
        "quantity",
        "executed_qty",
        "status",
        "created_at",
    )
    list_filter = ("market", "status", "side", "type")
    search_fields = ("=id", "client_order_id", "user__username")
    list_select_related = ("market", "user")


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "market",
        "seq",
        "price",
        "qty",
        "buyer",
        "seller",
        "created_at",
        "settled_at",
    )
    list_filter = ("market",)
    list_select_related = ("market", "buyer", "seller")
