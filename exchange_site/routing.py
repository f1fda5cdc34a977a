"""WebSocket routes: each app contributes its own list, named in settings.WEBSOCKET_URLCONFS."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings

websocket_urlpatterns: list[Any] = [
    route
    for module in settings.WEBSOCKET_URLCONFS
    for route in import_module(module).websocket_urlpatterns
]
