"""The web process's fan-out of user events: ONE Redis pub/sub connection per process (per
event loop), one channel subscription per user with at least one open stream here, never one
per socket.

A socket joins its user's channel through `Hub.join`, which returns once Redis has confirmed
the subscription: every event committed after that reaches the socket. Each message is handed
to every subscriber of the channel with `Subscriber.deliver`, which must not block (the sockets
put it on their bounded queue, and a socket whose queue is full is closed rather than fed a
gap). If the Redis connection breaks, every subscriber is dropped (told through
`Subscriber.drop`): events may have been lost meanwhile, so the clients reconnect and re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from typing import Protocol

import redis.asyncio as aioredis
import redis.exceptions
import structlog
from django.conf import settings
from prometheus_client import Counter, Gauge

log = structlog.get_logger(__name__)

CHANNELS = Gauge("exchange_userdata_channels", "User channels subscribed by this web process")
MESSAGES_IN = Counter("exchange_userdata_messages_in_total", "User channel messages received")


class Subscriber(Protocol):
    def deliver(self, data: bytes) -> None:
        """Take one message; must not block or await."""

    def drop(self, why: str) -> None:
        """The hub lost its upstream: end the stream (it may have missed messages)."""


class Hub:
    def __init__(self) -> None:
        self._client = aioredis.Redis.from_url(settings.REDIS_URL)
        self._pubsub = self._client.pubsub()
        self._subs: dict[bytes, set[Subscriber]] = {}
        # Per channel, one future per SUBSCRIBE sent and not yet confirmed, in order: Redis
        # confirms in the order it received them.
        self._pending: dict[bytes, deque[asyncio.Future[None]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def subscribers(self, channel: str) -> int:
        return len(self._subs.get(channel.encode(), ()))

    async def join(self, channel: str, sub: Subscriber) -> None:
        """Add `sub` to `channel`; returns once the channel's subscription is confirmed."""
        key = channel.encode()
        async with self._lock:
            subs = self._subs.setdefault(key, set())
            first = not subs
            subs.add(sub)
            waiter: asyncio.Future[None] | None = None
            if first:
                waiter = asyncio.get_running_loop().create_future()
                self._pending.setdefault(key, deque()).append(waiter)
                CHANNELS.inc()
                try:
                    await self._pubsub.subscribe(key)
                except (redis.exceptions.RedisError, OSError):
                    subs.discard(sub)
                    self._forget(key)
                    raise
                self._ensure_reader()
            elif self._pending.get(key):
                waiter = self._pending[key][-1]
        if waiter is not None:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=10)

    async def leave(self, channel: str, sub: Subscriber) -> None:
        key = channel.encode()
        async with self._lock:
            subs = self._subs.get(key)
            if not subs or sub not in subs:
                return
            subs.discard(sub)
            if subs:
                return
            self._forget(key)
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                await self._pubsub.unsubscribe(key)

    def _forget(self, key: bytes) -> None:
        if self._subs.pop(key, None) is not None:
            CHANNELS.dec()

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        pubsub = self._pubsub
        try:
            while self._subs or any(self._pending.values()):
                msg = await pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
                if msg is None:
                    continue
                kind = msg["type"]
                channel = msg["channel"]
                if kind == "message":
                    MESSAGES_IN.inc()
                    data = msg["data"]
                    for sub in tuple(self._subs.get(channel, ())):
                        sub.deliver(data)
                elif kind == "subscribe":
                    waiters = self._pending.get(channel)
                    if waiters:
                        waiter = waiters.popleft()
                        if not waiter.done():
                            waiter.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection broke: nobody may keep a stream with a gap
            log.warning("userdata.hub_lost_redis", error=str(exc))
            await self._reset(str(exc))

    async def _reset(self, why: str) -> None:
        async with self._lock:
            subs = [s for group in self._subs.values() for s in group]
            for waiters in self._pending.values():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(ConnectionError(why))
            self._pending.clear()
            CHANNELS.dec(len(self._subs))
            self._subs.clear()
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
            self._pubsub = self._client.pubsub()
        for sub in subs:
            sub.drop(why)


async def hub_close() -> None:
    """Close the running loop's hub (for code that owns a short-lived loop: tests)."""
    hub = _hubs.pop(asyncio.get_running_loop(), None)
    if hub is None:
        return
    if hub._reader is not None:
        hub._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await hub._reader
    with contextlib.suppress(Exception):
        await hub._pubsub.aclose()  # type: ignore[no-untyped-call]
    await hub._client.aclose()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def get_hub() -> Hub:
    """The running event loop's hub (daphne runs one loop; tests may run several)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
