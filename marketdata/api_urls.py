"""/api/v3/ routes of the general and market-data endpoints (security NONE); exchange_site/urls.py
includes them under "api/"."""

from __future__ import annotations

from django.urls import path

from exchange_site.binance.endpoint import route

from . import apis as md

urlpatterns = [
    path("v3/ping", route(md.ping)),
    path("v3/time", route(md.server_time)),
    path("v3/exchangeInfo", route(md.exchange_info)),
    path("v3/depth", route(md.depth)),
    path("v3/trades", route(md.trades)),
    path("v3/aggTrades", route(md.agg_trades)),
    path("v3/klines", route(md.klines)),
    path("v3/uiKlines", route(md.ui_klines)),
    path("v3/ticker/24hr", route(md.ticker_24hr)),
    path("v3/ticker/price", route(md.ticker_price)),
    path("v3/ticker/bookTicker", route(md.ticker_book)),
    path("v3/avgPrice", route(md.avg_price)),
]
