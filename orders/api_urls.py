"""/api/v3/ routes of the trading endpoints (SIGNED); exchange_site/urls.py
includes them under "api/"."""

from __future__ import annotations

from django.urls import path

from exchange_site.binance.endpoint import route

from . import apis as order_apis

urlpatterns = [
    path(
        "v3/order",
        route(order_apis.order_new, order_apis.order_cancel, order_apis.order_get),
    ),
    path("v3/order/test", route(order_apis.order_test)),
    path("v3/order/cancelReplace", route(order_apis.order_cancel_replace)),
    path("v3/order/amend/keepPriority", route(order_apis.order_amend_keep_priority)),
    path("v3/openOrders", route(order_apis.open_orders_get, order_apis.open_orders_cancel)),
    path("v3/allOrders", route(order_apis.all_orders_get)),
    path("v3/myTrades", route(order_apis.my_trades_get)),
]
