"""Process-wide Redis clients (one pool per process and event loop)."""

from __future__ import annotations

import asyncio
import functools
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings


@functools.cache
def get_redis() -> redis.Redis:
    """Synchronous client, shared by the threads of a process (redis-py pools are thread-safe)."""
    return redis.Redis.from_url(settings.REDIS_URL, max_connections=256, health_check_interval=30)


# Keyed by the loop object itself, weakly: a client (and its pool) goes away with its loop.
# daphne runs one loop for the process's life; tests create and drop many.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)


def get_async_redis() -> aioredis.Redis:
    """Asyncio client for the running event loop (an asyncio pool must not cross loops)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, max_connections=512)
        _async_clients[loop] = client
    return client


async def async_redis_close() -> None:
    """Close the running loop's client (for code that owns a short-lived loop)."""
    client = _async_clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
