"""ASGI entry point served by daphne: HTTP (Django) and WebSocket (Channels)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings.base")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from exchange_site.binance.asgi import api_asgi  # noqa: E402
from exchange_site.metrics import websocket_counted  # noqa: E402
from exchange_site.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # /api/v3/ goes straight to its async views (see exchange_site.binance.asgi); the rest
        # (admin, UI, schema, metrics) through Django's full handler.
        "http": api_asgi(django_asgi_app),
        "websocket": websocket_counted(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
