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
WEBSOCKET_URLCONFS = ["userdata.routing", "marketdata.routing"]

# User data streams (userdata/): listen keys live this long without a keepalive; a socket's
# send queue holds this many messages before the socket is closed as too slow; open streams
# re-check their key (disabled, expired) this often, besides the immediate control messages.
USERDATA_LISTEN_KEY_TTL_S = env("USERDATA_LISTEN_KEY_TTL_S", 3600, cast=int)
USERDATA_QUEUE_MAX = env("USERDATA_QUEUE_MAX", 1000, cast=int)
USERDATA_KEY_CHECK_S = env("USERDATA_KEY_CHECK_S", 10.0, cast=float)

# Market streams (marketdata.live): frames a connection may have waiting before it is closed
# as too slow (it must resynchronise rather than be fed a gap).
WS_QUEUE_LIMIT = env("WS_QUEUE_LIMIT", 1000, cast=int)
# Bytes the server may hold for one socket that the client has not read (daphne buffers every
# send); above it the connection is closed as too slow.
WS_SEND_BUFFER_LIMIT = env("WS_SEND_BUFFER_LIMIT", 4 * 1024 * 1024, cast=int)
