"""Binance-style market streams (contract 7.1): /ws, /ws/<token>, /stream?streams=a/b.

Other apps add stream families through the hub (marketdata.live.Hub.register), so a token of
/ws/<token> that one of them resolves (a listen key, say) is served by this same consumer.
"""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from marketdata.consumers import MarketStreamConsumer

websocket_urlpatterns: list[Any] = [
    re_path(r"^ws/?$", MarketStreamConsumer.as_asgi()),
    re_path(r"^ws/(?P<token>[^/]+)/?$", MarketStreamConsumer.as_asgi()),
    re_path(r"^stream/?$", MarketStreamConsumer.as_asgi()),
]
