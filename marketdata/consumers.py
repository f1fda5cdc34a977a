"""Binance market-stream sockets (contract 7.1): `/ws`, `/ws/<token>`, `/stream?streams=a/b`.

The consumer validates control messages, joins streams on the process's hub
(marketdata.live) and writes what the hub queues for it; it never writes to the database and
never queries it per message. Answers to control messages go through the same outbox as the
events, so a `{"result": null, "id": n}` is never overtaken by an event of the stream it
confirms, and anything published after the answer reaches the client.

Protocol errors, answered with `{"error": {"code", "msg"}, "id"}` (Binance's codes: 2 invalid
request, 3 invalid JSON): unknown method, unknown stream or symbol, malformed params, more than
MAX_STREAMS streams. More than MAX_MESSAGES_PER_S control messages in a second closes the
connection (4008), as Binance disconnects; so does a frame above MAX_FRAME_CHARS. Frames above
daphne's --websocket-max-message-size are refused by daphne itself (close 1009).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qs

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from marketdata.live import CLOSE_POLICY, CLOSE_SLOW, Subscriber, UnknownStream, get_hub
from marketdata.live.hub import Sink
from marketdata.live.metrics import CONNECTIONS, DROPPED, REJECTED

MAX_STREAMS = 1024
MAX_MESSAGES_PER_S = 5
MAX_FRAME_CHARS = 16_384
MAX_ID_CHARS = 64


def _error(code: int, msg: str, req_id: Any) -> str:
    return orjson.dumps({"error": {"code": code, "msg": msg}, "id": req_id}).decode()


class MarketStreamConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    # No per-connection channel-layer channel: the hub does the fan-out.
    channel_layer_alias = "__no_layer__"

    sub: Subscriber | None = None
    writer: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        hub = get_hub()
        path: str = self.scope["path"]
        combined = path.rstrip("/") == "/stream"
        names: list[str] = []
        if combined:
            query = parse_qs(self.scope.get("query_string", b"").decode())
            names = [n for raw in query.get("streams", []) for n in raw.split("/") if n]
        else:
            token = self.scope["url_route"]["kwargs"].get("token", "")
            # /ws/<stream name>: subscribe at once; any other token (/ws/0, a listen key
            # handled elsewhere) is ignored.
            if token and await hub.resolve(token) is not None:
                names = [token]
        self.received: deque[float] = deque()
        await self.accept()
        CONNECTIONS.inc()
        self.sub = hub.attach(combined=combined, sink=_daphne_sink(self.base_send))
        self.writer = asyncio.get_running_loop().create_task(self._write(self.sub))
        if len(names) > MAX_STREAMS:
            await self._refuse("too many streams", CLOSE_POLICY)
            return
        try:
            for name in names:
                await hub.subscribe(self.sub, name)
        except UnknownStream as exc:
            self.sub.push(_error(2, f"Invalid request: unknown stream '{exc.args[0]}'", None))
            await self._refuse("unknown stream", CLOSE_POLICY)
            return
        for name in names:
            await hub.welcome(self.sub, name)

    async def disconnect(self, code: int) -> None:
        if self.sub is not None:
            CONNECTIONS.dec()
            get_hub().detach(self.sub)
            self.sub = None
        if self.writer is not None:
            self.writer.cancel()

    async def _refuse(self, why: str, code: int) -> None:
        REJECTED.labels(why).inc()
        await asyncio.sleep(0)  # let the writer send what is queued
        if self.sub is not None:
            await self._drain(self.sub)
        await self.close(code)

    async def _drain(self, sub: Subscriber) -> None:
        """Send what the outbox holds now (used before a close)."""
        # The writer task owns sending; give it a moment to empty the outbox.
        for _ in range(20):
            if not sub.pending():
                return
            await asyncio.sleep(0.005)

    async def _write(self, sub: Subscriber) -> None:
        try:
            while True:
                frames = await sub.get()
                if sub.closed is not None:
                    with contextlib.suppress(Exception):
                        await self.close(sub.closed)
                    return
                if _outbound_bytes(self.base_send) > settings.WS_SEND_BUFFER_LIMIT:
                    # The client does not read: close it (it resyncs) rather than buffer more.
                    DROPPED.inc()
                    sub.close(CLOSE_SLOW)
                    with contextlib.suppress(Exception):
                        await self.close(CLOSE_SLOW)
                    return
                for text in frames:
                    await self.send(text_data=text)
        except asyncio.CancelledError:
            raise

    # ---------------------------------------------------------------- control messages

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        sub = self.sub
        if sub is None:
            return
        now = time.monotonic()
        self.received.append(now)
        while self.received and now - self.received[0] > 1.0:
            self.received.popleft()
        if len(self.received) > MAX_MESSAGES_PER_S:
            sub.push(_error(2, "Invalid request: too many requests (at most 5 per second)", None))
            await self._refuse("rate", CLOSE_POLICY)
            return
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            sub.push(_error(2, "Invalid request: frame too large or not text", None))
            await self._refuse("frame", CLOSE_POLICY)
            return
        try:
            msg = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            REJECTED.labels("json").inc()
            sub.push(_error(3, "Invalid JSON: expected a JSON object", None))
            return
        if not isinstance(msg, dict):
            REJECTED.labels("json").inc()
            sub.push(_error(3, "Invalid JSON: expected a JSON object", None))
            return
        req_id = msg.get("id")
        if not _valid_id(req_id):
            REJECTED.labels("id").inc()
            sub.push(_error(1, "Invalid value type: expected an integer or a string id", None))
            return
        method = msg.get("method")
        extra = set(msg) - {"method", "params", "id"}
        if extra:
            REJECTED.labels("property").inc()
            sub.push(_error(0, f"Unknown property: '{sorted(extra)[0]}'", req_id))
            return
        if method == "LIST_SUBSCRIPTIONS":
            sub.push(orjson.dumps({"result": sorted(sub.streams), "id": req_id}).decode())
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            REJECTED.labels("method").inc()
            sub.push(_error(2, f"Invalid request: unknown method {str(method)[:32]!r}", req_id))
            return
        params = msg.get("params")
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            REJECTED.labels("params").inc()
            sub.push(_error(2, "Invalid request: params must be a list of stream names", req_id))
            return
        if method == "UNSUBSCRIBE":
            hub = get_hub()
            for name in params:
                await hub.unsubscribe(sub, name)
            sub.push(orjson.dumps({"result": None, "id": req_id}).decode())
            return
        await self._subscribe(sub, params, req_id)

    async def _subscribe(self, sub: Subscriber, names: list[str], req_id: Any) -> None:
        hub = get_hub()
        if len(sub.streams | set(names)) > MAX_STREAMS:
            REJECTED.labels("streams").inc()
            sub.push(
                _error(2, f"Invalid request: at most {MAX_STREAMS} streams per connection", req_id)
            )
            return
        for name in names:
            if await hub.resolve(name) is None:
                REJECTED.labels("stream").inc()
                sub.push(_error(2, f"Invalid request: unknown stream {name[:64]!r}", req_id))
                return
        try:
            for name in names:
                await hub.subscribe(sub, name)
        except (UnknownStream, ConnectionError, TimeoutError):
            sub.push(_error(2, "Invalid request: stream unavailable, try again", req_id))
            return
        sub.push(orjson.dumps({"result": None, "id": req_id}).decode())
        for name in names:
            await hub.welcome(sub, name)


def _daphne_protocol(send: Any) -> Any:
    """daphne's WebSocket protocol behind an ASGI `send` (daphne passes
    partial(server.handle_reply, protocol); channels' session middleware wraps it in a bound
    method keeping it as `real_send`), or None under another server."""
    for _ in range(8):  # through the middlewares' wrappers (channels' session middleware)
        protocol = (getattr(send, "args", None) or (None,))[0]
        if hasattr(protocol, "sendMessage") and hasattr(protocol, "STATE_OPEN"):
            return protocol
        send = getattr(getattr(send, "__self__", None), "real_send", None)
        if send is None:
            return None
    return None


def _outbound_bytes(send: Any) -> int:
    """Bytes daphne holds for this socket that the kernel has not taken: daphne accepts every
    send at once and buffers it in the Twisted transport, so a client that stops reading only
    shows there (0 under another server)."""
    transport = getattr(_daphne_protocol(send), "transport", None)
    try:
        return len(transport.dataBuffer) - int(transport.offset) + int(transport._tempDataLen)  # type: ignore[union-attr]
    except (AttributeError, TypeError):
        return 0


def _daphne_sink(send: Any) -> Sink | None:
    """Under daphne, a sink writing each frame's bytes straight to the connection's transport:
    no task switch and no framing per frame and client, the frame built once for all (the
    fan-out's hot path). Only for connections without a WebSocket extension (daphne accepts
    none), where every client gets the same bytes; autobahn writes whole frames too, so its own
    (pings, close) never interleave with ours. It refuses (the hub closes the subscriber) once
    the connection is gone or daphne holds more than WS_SEND_BUFFER_LIMIT unsent bytes."""
    protocol = _daphne_protocol(send)
    if protocol is None or getattr(protocol, "websocket_extensions_in_use", None):
        return None
    limit = settings.WS_SEND_BUFFER_LIMIT
    open_state = protocol.STATE_OPEN

    def sink(wire: bytes) -> bool:
        if protocol.state != open_state or protocol.transport is None:
            return False
        if _outbound_bytes(send) > limit:
            return False
        protocol.transport.write(wire)
        return True

    return sink


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**64
    return isinstance(value, str) and len(value) <= MAX_ID_CHARS
