"""URL conf of /api/: exact Binance paths (no trailing slash, never a redirect), the OpenAPI
schema and docs, and a JSON -1020 for everything else under /api/.

The schema (exchange_site.binance.schema) is generated from this list: a path appears in the
document exactly when it is routed here.
"""

from __future__ import annotations

from django.urls import path, re_path

from accounts import apis as account_apis
from exchange_site.binance.endpoint import route
from exchange_site.binance.views import docs_static, docs_view, not_found, schema_view
from marketdata import apis as md
from orders import apis as order_apis

urlpatterns = [
    # General and market data (security NONE).
    path("v3/ping", route(md.ping)),
    path("v3/time", route(md.server_time)),
    path("v3/exchangeInfo", route(md.exchange_info)),
    path("v3/depth", route(md.depth)),
    path("v3/trades", route(md.trades)),
    path("v3/aggTrades", route(md.agg_trades)),
    path("v3/klines", route(md.klines)),
    path("v3/ticker/24hr", route(md.ticker_24hr)),
    path("v3/ticker/price", route(md.ticker_price)),
    path("v3/ticker/bookTicker", route(md.ticker_book)),
    path("v3/avgPrice", route(md.avg_price)),
    # Trading and account (SIGNED).
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
    path("v3/account", route(account_apis.account)),
    # Documentation.
    path("schema/", schema_view, name="api-schema"),
    path("docs/", docs_view, name="api-docs"),
    path("docs/static/<str:path>", docs_static),
    # Anything else under /api/: Binance's "not supported", as JSON, never an HTML page.
    re_path(r"", not_found),
]
