"""The fan-out hub: one per web process (one event loop), shared by every WebSocket.

Shape: a client connection is a `Subscriber` (a bounded outbox the connection drains). It
subscribes to *streams* by name ("btcusdt@depth@100ms", "user:42", ...). A stream belongs to a
*feed*, and a feed reads one Redis pub/sub channel: the hub holds ONE Redis subscription per
channel for the whole process, whatever the number of clients, and drops it when the last
subscriber of that channel leaves. Each message is decoded and rendered once per process; the
same frame object goes to every subscriber of the stream.

Delivery guarantees: frames of one stream reach a subscriber in publication order, and never
with a hole. A subscriber whose outbox is full is closed (code 4013), never skipped past; a
feed that detects a hole upstream (a depth update id gap, a lost Redis connection) closes the
subscribers of the affected streams, which reconnect and resynchronise.

Extending: `Hub.register(resolver)` adds a family of stream names. A resolver maps a name to a
`StreamSpec` (the Redis channel and a factory for its feed) or None. `RawFeed` forwards each
Redis message verbatim to the stream of the same name, which is what per-user channels need:

    hub.register(lambda name: StreamSpec(channel=..., feed=RawFeed) if name.startswith(...) ...)
    sub = hub.attach()
    await hub.subscribe(sub, name)
    frames = await sub.get()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
import structlog

from .metrics import (
    COMMIT_TO_SEND,
    DROPPED,
    FRAMES_OUT,
    REDIS_CHANNELS,
    SUBSCRIPTIONS,
)

log = structlog.get_logger(__name__)

# Close codes (daphne lets an application send only 1000 or 3000-4999): 4000 + the standard
# code they stand for.
CLOSE_SLOW = 4013  # "try again later" (1013): outbox overflow or an upstream gap; resync
CLOSE_POLICY = 4008  # "policy violation" (1008): rate limit, oversized frame, bad stream


class Frame:
    """One event as sent: the raw JSON text and, built on first use, the combined-stream form
    `{"stream": name, "data": ...}`. `origin` is the publisher's commit time (time.time())
    for the commit-to-send histogram, or None."""

    __slots__ = ("_wire", "_wrapped", "origin", "raw", "stream")

    def __init__(self, stream: str, raw: str, origin: float | None = None) -> None:
        self.stream = stream
        self.raw = raw
        self.origin = origin
        self._wrapped: str | None = None
        self._wire: dict[bool, bytes] = {}

    def text(self, combined: bool) -> str:
        if not combined:
            return self.raw
        if self._wrapped is None:
            self._wrapped = f'{{"stream":"{self.stream}","data":{self.raw}}}'
        return self._wrapped

    def wire(self, combined: bool) -> bytes:
        """text() as a complete WebSocket text frame, built once for all the subscribers of a
        direct sink."""
        data = self._wire.get(combined)
        if data is None:
            data = self._wire[combined] = ws_text_frame(self.text(combined).encode())
        return data


def ws_text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented, uncompressed text frame (RFC 6455 5.2), as a server sends:
    the same bytes for every connection that negotiated no extension."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 65536:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


# A direct sink: writes one complete frame (ws_text_frame) now, without a task switch; returns
# False when the connection can take no more (gone, or too far behind): the subscriber closes.
Sink = Callable[[bytes], bool]


class Subscriber:
    """One connection's outbox: frames in order, at most `limit` waiting. Overflow closes it."""

    def __init__(self, *, combined: bool, limit: int, sink: Sink | None = None) -> None:
        self.combined = combined
        self.limit = limit
        self.sink = sink
        self.streams: set[str] = set()
        self.closed: int | None = None  # the close code once the hub dropped it
        self._queue: deque[Frame | str] = deque()
        self._ready = asyncio.Event()

    def push(self, frame: Frame | str) -> None:
        if self.closed is not None:
            return
        if self.sink is not None:
            # In order by construction: every frame of this subscriber goes through here.
            if isinstance(frame, str):
                ok = self.sink(ws_text_frame(frame.encode()))
            else:
                ok = self.sink(frame.wire(self.combined))
                if frame.origin is not None:
                    COMMIT_TO_SEND.observe(max(0.0, time.time() - frame.origin))
            FRAMES_OUT.inc()
            if not ok:
                DROPPED.inc()
                self.close(CLOSE_SLOW)
            return
        if len(self._queue) >= self.limit:
            DROPPED.inc()
            self.close(CLOSE_SLOW)
            return
        self._queue.append(frame)
        self._ready.set()

    def pending(self) -> int:
        return len(self._queue)

    def close(self, code: int) -> None:
        if self.closed is None:
            self.closed = code
            self._queue.clear()
            self._ready.set()

    async def get(self) -> list[str]:
        """Wait for frames; returns them as text, oldest first ([] once closed)."""
        while not self._queue and self.closed is None:
            self._ready.clear()
            await self._ready.wait()
        if self.closed is not None:
            return []
        out: list[str] = []
        now = time.time()
        combined = self.combined
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, str):
                out.append(item)
                continue
            out.append(item.text(combined))
            if item.origin is not None:
                COMMIT_TO_SEND.observe(max(0.0, now - item.origin))
        FRAMES_OUT.inc(len(out))
        return out


class Feed(Protocol):
    """Reads one Redis channel, publishes frames to the hub's streams."""

    async def start(self) -> None: ...

    def on_message(self, data: bytes) -> None: ...

    async def on_subscribe(self, sub: Subscriber, stream: str) -> None:
        """Queue the stream's current state for a new subscriber (hub.welcome)."""

    def stop(self) -> None: ...


FeedFactory = Callable[["Hub", str], Feed]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    channel: str  # the Redis pub/sub channel
    feed: FeedFactory  # builds the channel's feed (once per process and channel)
    key: str = ""  # feeds shared by several channels' streams; default: the channel


Resolver = Callable[[str], Awaitable[StreamSpec | None]]


class UnknownStream(Exception):
    pass


class RawFeed:
    """Forwards each message of its channel verbatim to every subscriber of any stream resolved
    to this channel."""

    def __init__(self, hub: Hub, channel: str) -> None:
        self.hub = hub
        self.channel = channel

    async def start(self) -> None:
        return None

    def on_message(self, data: bytes) -> None:
        text = data.decode()
        for stream in self.hub.streams_of(self.channel):
            self.hub.publish(Frame(stream, text))

    async def on_subscribe(self, sub: Subscriber, stream: str) -> None:
        return None

    def stop(self) -> None:
        return None


class Hub:
    def __init__(self, redis_url: str, *, queue_limit: int) -> None:
        self.redis_url = redis_url
        self.queue_limit = queue_limit
        self._resolvers: list[Resolver] = []
        self._subs: dict[str, set[Subscriber]] = {}  # stream -> subscribers
        self._stream_channel: dict[str, str] = {}  # stream -> channel
        self._channel_streams: dict[str, set[str]] = {}  # channel -> streams
        self._feeds: dict[str, Feed] = {}  # channel -> feed
        self._confirm: dict[str, asyncio.Future[None]] = {}  # channel -> SUBSCRIBE confirmed
        self._pubsub: Any = None
        self._client: aioredis.Redis | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._control = f"hub:{id(self)}"  # a private channel: the connection stays subscribed

    # ---------------------------------------------------------------- public interface

    def register(self, resolver: Resolver) -> None:
        """Add a family of stream names; resolvers are asked in registration order."""
        self._resolvers.append(resolver)

    def attach(
        self, *, combined: bool = False, limit: int | None = None, sink: Sink | None = None
    ) -> Subscriber:
        """A subscriber for one connection. With `sink`, frames are written through it at
        once; without, they wait in a bounded outbox that the connection drains (get())."""
        return Subscriber(combined=combined, limit=limit or self.queue_limit, sink=sink)

    async def resolve(self, stream: str) -> StreamSpec | None:
        for resolver in self._resolvers:
            spec = await resolver(stream)
            if spec is not None:
                return spec
        return None

    async def subscribe(self, sub: Subscriber, stream: str) -> None:
        """Subscribe `sub` to `stream`; returns once the process's Redis subscription for its
        channel is confirmed, so anything published afterwards reaches it. Raises
        UnknownStream for a name no resolver knows."""
        if stream in sub.streams:
            return
        spec = await self.resolve(stream)
        if spec is None:
            raise UnknownStream(stream)
        async with self._lock:
            feed = self._feeds.get(spec.channel)
            if feed is None:
                feed = spec.feed(self, spec.channel)
                await feed.start()
                self._feeds[spec.channel] = feed
                REDIS_CHANNELS.set(len(self._feeds))
                await self._redis_subscribe(spec.channel)
            self._stream_channel[stream] = spec.channel
            self._channel_streams.setdefault(spec.channel, set()).add(stream)
            self._subs.setdefault(stream, set()).add(sub)
            sub.streams.add(stream)
            SUBSCRIPTIONS.inc()

    async def welcome(self, sub: Subscriber, stream: str) -> None:
        """Queue the stream's current state for `sub` (tickers, the open candle), if it has
        one; call after the subscription is confirmed to the client."""
        channel = self._stream_channel.get(stream)
        feed = self._feeds.get(channel) if channel is not None else None
        if feed is not None and stream in sub.streams:
            await feed.on_subscribe(sub, stream)

    async def unsubscribe(self, sub: Subscriber, stream: str) -> None:
        if stream not in sub.streams:
            return
        async with self._lock:
            self._remove(sub, stream)
            await self._prune()

    def detach(self, sub: Subscriber) -> None:
        """The connection is gone: forget its subscriptions (channels are pruned later)."""
        for stream in list(sub.streams):
            self._remove(sub, stream)
        sub.close(1000)
        if self._reader is not None:
            self.spawn(self._prune_locked())

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background, holding a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def streams_of(self, channel: str) -> set[str]:
        return self._channel_streams.get(channel, set())

    def subscribers(self, stream: str) -> set[Subscriber]:
        return self._subs.get(stream, set())

    def publish(self, frame: Frame) -> None:
        """Queue `frame` for every subscriber of its stream."""
        for sub in tuple(self._subs.get(frame.stream, ())):
            sub.push(frame)

    def close_stream(self, stream: str, code: int = CLOSE_SLOW) -> None:
        """Drop every subscriber of `stream` (they must resynchronise)."""
        for sub in tuple(self._subs.get(stream, ())):
            sub.close(code)

    async def aclose(self) -> None:
        """Stop reading and close the Redis connection (tests; daphne never stops a hub)."""
        for feed in self._feeds.values():
            feed.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    # ---------------------------------------------------------------- internals

    def _remove(self, sub: Subscriber, stream: str) -> None:
        sub.streams.discard(stream)
        subs = self._subs.get(stream)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        SUBSCRIPTIONS.dec()
        if not subs:
            del self._subs[stream]
            channel = self._stream_channel.pop(stream, None)
            if channel is not None:
                self._channel_streams.get(channel, set()).discard(stream)

    async def _prune_locked(self) -> None:
        async with self._lock:
            await self._prune()

    async def _prune(self) -> None:
        """Unsubscribe from channels nobody listens to any more (call under the lock)."""
        idle = [ch for ch, streams in self._channel_streams.items() if not streams]
        for channel in idle:
            del self._channel_streams[channel]
            feed = self._feeds.pop(channel, None)
            if feed is not None:
                feed.stop()
            if self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.unsubscribe(channel)
        REDIS_CHANNELS.set(len(self._feeds))

    async def _redis_subscribe(self, channel: str) -> None:
        if self._reader is None or self._reader.done():
            self._client = aioredis.Redis.from_url(self.redis_url)
            self._pubsub = self._client.pubsub()
            await self._pubsub.subscribe(self._control)
            self._reader = asyncio.get_running_loop().create_task(self._read(self._pubsub))
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm[channel] = confirmed
        await self._pubsub.subscribe(channel)
        try:
            await asyncio.wait_for(confirmed, timeout=5)
        finally:
            self._confirm.pop(channel, None)

    async def _read(self, pubsub: Any) -> None:
        try:
            async for msg in pubsub.listen():
                kind = msg["type"]
                channel = msg["channel"].decode()
                if kind == "message":
                    feed = self._feeds.get(channel)
                    if feed is not None:
                        try:
                            feed.on_message(msg["data"])
                        except Exception:
                            log.exception("live.feed_failed", channel=channel)
                elif kind == "subscribe":
                    fut = self._confirm.get(channel)
                    if fut is not None and not fut.done():
                        fut.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("live.redis_lost", error=str(exc))
        # Messages may have been lost: every subscriber must resynchronise.
        for stream in list(self._subs):
            self.close_stream(stream)
        for fut in self._confirm.values():
            if not fut.done():
                fut.set_exception(ConnectionError("redis subscription lost"))
        with contextlib.suppress(Exception):
            await pubsub.aclose()
