from __future__ import annotations

from django.contrib import admin

from exchange_site.admin_utils import ReadOnlyAdmin

from .models import Market, Order, Trade


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
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
