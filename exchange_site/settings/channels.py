"""Channels: the Redis channel layer (delivery across processes is real, also in tests)."""

from __future__ import annotations

from .env import env

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [env("REDIS_URL", "redis://127.0.0.1:6379/0")],
            "prefix": "chan",
        },
    }
}

# WebSocket routes (exchange_site/routing.py): the `websocket_urlpatterns` of each of these
# modules, in order; the Channels counterpart of ROOT_URLCONF's includes.
WEBSOCKET_URLCONFS = ["marketdata.routing"]

# Market streams (marketdata.live): frames a connection may have waiting before it is closed
# as too slow (it must resynchronise rather than be fed a gap).
WS_QUEUE_LIMIT = env("WS_QUEUE_LIMIT", 1000, cast=int)
# Bytes the server may hold for one socket that the client has not read (daphne buffers every
# send); above it the connection is closed as too slow.
WS_SEND_BUFFER_LIMIT = env("WS_SEND_BUFFER_LIMIT", 4 * 1024 * 1024, cast=int)
