"""WebSocket routes of the user data streams (settings.WEBSOCKET_URLCONFS lists this module
before marketdata.routing, whose /ws/<token> takes every other /ws/ path).

/ws/<listenKey> is told apart from a market stream name by its shape: exactly 60 letters and
digits (a stream name has an "@" or starts with "!", and the placeholder tokens clients use are
short).
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from .consumers import ListenKeySocket, UiSocket, WsApiSocket

websocket_urlpatterns: list[Any] = [
    re_path(r"^ws/(?P<listen_key>[A-Za-z0-9]{60})$", ListenKeySocket.as_asgi()),
    path("ws-api/v3", WsApiSocket.as_asgi()),
    # Session-authenticated: only pages of our own hosts may open it (cross-site WebSocket
    # hijacking would otherwise ride on the session cookie).
    path("ui/stream", AllowedHostsOriginValidator(UiSocket.as_asgi())),
]
