"""Process-wide Redis clients (one pool per process and event loop)."""

from __future__ import annotations

import functools

import redis
import redis.asyncio as aioredis
from django.conf import settings


@functools.cache
def get_redis() -> redis.Redis:
    """Synchronous client, shared by the threads of a process (redis-py pools are thread-safe)."""
    return redis.Redis.from_url(settings.REDIS_URL, max_connections=256, health_check_interval=30)


_async_clients: dict[int, aioredis.Redis] = {}


def get_async_redis() -> aioredis.Redis:
    """Asyncio client for the running event loop (an asyncio pool must not cross loops)."""
    import asyncio

    loop_id = id(asyncio.get_running_loop())
    client = _async_clients.get(loop_id)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, max_connections=512)
        _async_clients[loop_id] = client
    return client
