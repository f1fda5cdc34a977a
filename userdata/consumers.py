"""The user data sockets (contract 7.4), fed by the process's hub (userdata.hub).

- `/ws/<listenKey>` (ListenKeySocket): Binance's listen-key stream; each event as its own text
  frame.
- `/ws-api/v3` (WsApiSocket): Binance's WebSocket API subset for user data:
  `userDataStream.subscribe.signature`, `userDataStream.unsubscribe`, `ping`, `time`; events
  wrapped as {"subscriptionId": N, "event": {...}}.
- `/ui/stream` (UiSocket): the logged-in web user's events (session cookie), same objects.

Every socket has a bounded send queue (settings.USERDATA_QUEUE_MAX messages): when it is full
the socket is closed (code 4008) instead of skipping events. A stream ends with
`eventStreamTerminated` when its key is disabled, its listen key closed or expired (checked on
a control message at once, and every settings.USERDATA_KEY_CHECK_S seconds).
These consumers authenticate, subscribe and forward; they never write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from decimal import Decimal
from typing import Any

import orjson
import redis.exceptions
import structlog
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError
from prometheus_client import Counter, Gauge, Histogram

from accounts.apikeys import key_authorize, key_header_check, key_lookup
from accounts.models import ApiKey
from exchange_site.binance import errors
from exchange_site.binance.db import db_call
from exchange_site.binance.errors import ApiError
from exchange_site.binance.signing import signature_check, timing_check
from exchange_site.binance.times import now_ms

from .events import stream_terminated
from .hub import get_hub
from .listenkeys import listen_key_get
from .publish import user_channel

log = structlog.get_logger(__name__)

OPEN = Gauge("exchange_userdata_sockets", "Open user data sockets", ["kind"])
SENT = Counter("exchange_userdata_messages_out_total", "User data messages sent", ["kind"])
DROPPED = Counter("exchange_userdata_slow_closed_total", "Sockets closed for a full send queue")
COMMIT_TO_SEND = Histogram(
    "exchange_userdata_commit_to_send_seconds",
    "From the commit an event reports (its T, else u, else E) to its send on a socket",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


def _observe_sent(data: bytes) -> None:
    """Commit-to-send latency of one event (user events are few: one parse each is cheap)."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    if isinstance(event, dict) and "event" in event:
        event = event["event"]
    origin = event.get("T") or event.get("u") or event.get("E") if isinstance(event, dict) else None
    if isinstance(origin, int):
        COMMIT_TO_SEND.observe(max(0.0, (now_ms() - origin) / 1000))


CLOSE_ERROR = 1011  # Redis or PostgreSQL unavailable: try again
CLOSE_SLOW = 4008  # the client did not read fast enough: its queue filled up
CLOSE_UPSTREAM = 1012  # the hub lost Redis: reconnect
CLOSE_BAD_KEY = 4001  # unknown, expired or closed listen key
CLOSE_UNAUTHENTICATED = 4401  # /ui/stream without a logged-in user
CLOSE_TOO_BIG = 1009
CLOSE_POLICY = 1008
NO_SUCH_KEY = "This listenKey does not exist."
UPSTREAM_ERRORS = (
    redis.exceptions.RedisError, OSError, TimeoutError, ConnectionError, DatabaseError,
)  # fmt: skip
MAX_FRAME = 4096  # bytes of one client message; the requests here are small
MAX_REQUESTS_PER_S = 10


_active_cache: dict[int, tuple[float, bool]] = {}


async def _key_active(api_key_id: int, *, fresh: bool = False) -> bool:
    """Whether the API key (and its user) may still read; the answer is shared by the process's
    sockets for half of USERDATA_KEY_CHECK_S (one query per key, not per socket)."""
    now = time.monotonic()
    hit = _active_cache.get(api_key_id)
    if not fresh and hit is not None and hit[0] > now:
        return hit[1]

    def query() -> bool:
        return ApiKey.objects.filter(
            pk=api_key_id, enabled=True, can_read=True, user__is_active=True
        ).exists()

    active = await db_call(query)
    if len(_active_cache) > 10_000:
        _active_cache.clear()
    _active_cache[api_key_id] = (now + settings.USERDATA_KEY_CHECK_S / 2, active)
    return active


class _Socket(AsyncWebsocketConsumer):  # type: ignore[misc]
    """A bounded queue and one sender task per socket; subclasses pick the channel and wrap."""

    kind = "base"
    # No channel layer: these sockets are fed by the hub only. An alias that names no layer
    # makes Channels skip the per-socket layer channel (and its Redis polling) altogether.
    channel_layer_alias = "userdata-none"

    async def _start(self, user_id: int) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(settings.USERDATA_QUEUE_MAX)
        self._closing = False
        self._channel = user_channel(user_id)
        self._user_id = user_id
        self._tasks: list[asyncio.Task[None]] = []
        try:
            await get_hub().join(self._channel, self)
        except UPSTREAM_ERRORS as exc:
            log.warning("userdata.subscribe_failed", kind=self.kind, error=str(exc))
            with contextlib.suppress(*UPSTREAM_ERRORS):
                await get_hub().leave(self._channel, self)
            raise errors.dependency_down() from exc
        self._joined = self._counted = True
        OPEN.labels(self.kind).inc()
        self._tasks.append(asyncio.get_running_loop().create_task(self._send_loop()))

    # Subscriber -------------------------------------------------------------------------

    def deliver(self, data: bytes) -> None:
        if self._closing:
            return
        if data[:1] == b"!":
            self._control(orjson.loads(data[1:]))
            return
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            DROPPED.inc()
            log.info("userdata.slow_client_closed", kind=self.kind, user_id=self._user_id)
            self._shutdown(CLOSE_SLOW)

    def drop(self, why: str) -> None:
        self._joined = False
        self._shutdown(CLOSE_UPSTREAM)

    # ------------------------------------------------------------------------------------

    def _control(self, message: dict[str, Any]) -> None:
        """A control message on the user's channel (userdata.publish)."""

    def _wrap(self, data: bytes) -> list[bytes]:
        return [data]

    def _terminate_bytes(self) -> bytes:
        return orjson.dumps(stream_terminated(event_ms=now_ms()))

    def _shutdown(self, code: int, farewell: bytes | None = None) -> None:
        """Close after what is queued (and `farewell`) was sent; a full queue closes at once."""
        if self._closing:
            return
        self._closing = True
        if code == CLOSE_SLOW:
            # Nothing more is sent: a later event after a skipped one would be a gap.
            for task in self._tasks:
                task.cancel()
            asyncio.get_running_loop().create_task(self.close(code=code))
            return
        if farewell is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(farewell)
        self._close_code = code
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        if self._queue.full():
            asyncio.get_running_loop().create_task(self.close(code=code))

    async def _send_loop(self) -> None:
        queue = self._queue
        while True:
            data = await queue.get()
            if data is None:
                await self.close(code=self._close_code)
                return
            for frame in self._wrap(data):
                await self.send(text_data=frame.decode())
                SENT.labels(self.kind).inc()
            _observe_sent(data)

    async def disconnect(self, code: int) -> None:
        self._closing = True
        for task in getattr(self, "_tasks", ()):
            task.cancel()
        if getattr(self, "_counted", False):
            self._counted = False
            OPEN.labels(self.kind).dec()
        if getattr(self, "_joined", False):
            self._joined = False
            with contextlib.suppress(*UPSTREAM_ERRORS):
                await get_hub().leave(self._channel, self)

    async def _refuse(self, code: int, error: ApiError | None = None) -> None:
        """Accept only to say why, then close (daphne drops close reasons)."""
        await self.accept()
        if error is not None:
            await self.send(text_data=json.dumps({"error": {"code": error.code, "msg": error.msg}}))
        await self.close(code=code)


class ListenKeySocket(_Socket):
    """/ws/<listenKey>: the listen key's user's events."""

    kind = "listen_key"

    async def connect(self) -> None:
        listen_key: str = self.scope["url_route"]["kwargs"]["listen_key"]
        try:
            found = await listen_key_get(listen_key)
            if found is None or not await _key_active(found.api_key_id, fresh=True):
                await self._refuse(CLOSE_BAD_KEY, ApiError(NO_SUCH_KEY, code=-1125))
                return
            self._listen_key = found
            await self._start(found.user_id)
        except (*UPSTREAM_ERRORS, ApiError) as exc:
            down = exc if isinstance(exc, ApiError) else errors.dependency_down()
            await self._refuse(CLOSE_ERROR, down)
            return
        await self.accept()
        self._tasks.append(asyncio.get_running_loop().create_task(self._watch()))

    def _control(self, message: dict[str, Any]) -> None:
        ctl = message.get("ctl")
        if (ctl == "lk_off" and message.get("lk") == self._listen_key.key) or (
            ctl == "key_off" and message.get("key") == self._listen_key.api_key_id
        ):
            self._shutdown(1000, self._terminate_bytes())

    async def _watch(self) -> None:
        """The safety net behind the control messages: expiry, a key disabled elsewhere."""
        while not self._closing:
            await asyncio.sleep(settings.USERDATA_KEY_CHECK_S)
            found = await listen_key_get(self._listen_key.key)
            if found is None or not await _key_active(found.api_key_id):
                self._shutdown(1000, self._terminate_bytes())
                return

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        size = len(text_data or "") + len(bytes_data or b"")
        if size > MAX_FRAME:
            self._shutdown(CLOSE_TOO_BIG)
        # Anything else a client sends on a listen-key stream is ignored (Binance does too).


class UiSocket(_Socket):
    """/ui/stream: the logged-in user's events, for the web UI (session cookie)."""

    kind = "ui"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        try:
            await self._start(user.pk)
        except ApiError as exc:
            await self._refuse(CLOSE_ERROR, exc)
            return
        await self.accept()
        # Subscribed: every event committed from now on follows; a UI fetches its snapshot
        # after this message to miss nothing.
        await self.send(text_data=json.dumps({"e": "streamReady", "E": now_ms()}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if len(text_data or "") + len(bytes_data or b"") > MAX_FRAME:
            self._shutdown(CLOSE_TOO_BIG)


class WsApiSocket(_Socket):
    """/ws-api/v3: Binance's WebSocket API, the user data stream requests."""

    kind = "ws_api"

    async def connect(self) -> None:
        self._subscriptions: dict[int, tuple[int, int]] = {}  # id -> (user id, api key id)
        self._next_id = 0
        self._window_start = time.monotonic()
        self._window_count = 0
        self._started = False
        self._watching = False
        self._closing = False
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self._started:
            await super().disconnect(code)

    # requests ---------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > MAX_REQUESTS_PER_S:
            limit = f"Too many requests; current limit is {MAX_REQUESTS_PER_S} requests per second."
            await self._reply(None, 429, ApiError(limit, code=-1003))
            await self._close_now(CLOSE_POLICY)
            return
        raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(raw) > MAX_FRAME:
            await self._close_now(CLOSE_TOO_BIG)
            return
        try:
            request = json.loads(raw, parse_float=Decimal)
        except ValueError:
            await self._reply(None, 400, errors.illegal_chars("request", "JSON"))
            return
        if not isinstance(request, dict):
            await self._reply(None, 400, errors.illegal_chars("request", "JSON object"))
            return
        rid = request.get("id")
        if not isinstance(rid, str | int) or isinstance(rid, bool):
            await self._reply(None, 400, errors.mandatory("id"))
            return
        method = request.get("method")
        params = request.get("params", {})
        if not isinstance(params, dict):
            await self._reply(rid, 400, errors.mandatory("params"))
            return
        try:
            result = await self._dispatch(method, params)
        except ApiError as exc:
            await self._reply(rid, exc.http_status, exc)
            return
        except UPSTREAM_ERRORS:
            log.warning("userdata.ws_api_dependency_down", exc_info=True)
            await self._reply(rid, 503, errors.dependency_down())
            return
        await self.send(text_data=json.dumps({"id": rid, "status": 200, "result": result}))

    async def _dispatch(self, method: object, params: dict[str, Any]) -> dict[str, Any]:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now_ms()}
        if method == "userDataStream.subscribe.signature":
            return await self._subscribe(params)
        if method == "userDataStream.unsubscribe":
            return await self._unsubscribe(params)
        raise errors.not_supported(http_status=400)

    async def _subscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        """Authenticated like a SIGNED REST request (contract section 2): the key (-2014,
        -2015; it needs the read permission), timestamp and signature (-1102), the HMAC of the
        other params sorted by name as name=value&... (-1022), the time window (-1021)."""
        header = params.get("apiKey")
        info = await key_lookup(key_header_check(header if isinstance(header, str) else None))
        client = self.scope.get("client") or ("unknown", 0)
        key = key_authorize(info, ip=str(client[0]), need_trade=False)
        for name in ("timestamp", "signature"):
            if params.get(name) in (None, ""):
                raise errors.mandatory(name)
        signature = params["signature"]
        if not isinstance(signature, str):
            raise errors.signature_invalid()
        payload = "&".join(
            f"{name}={_plain(value)}"
            for name, value in sorted(params.items())
            if name != "signature"
        )
        signature_check(secret=key.secret, query=payload.encode(), body=b"", signature=signature)
        timing_check(
            timestamp=_plain(params["timestamp"]),
            recv_window=_plain(params["recvWindow"]) if "recvWindow" in params else None,
            now_us=time.time_ns() // 1000,
        )
        if not self._started:
            await self._start(key.user_id)
            self._started = True
        elif self._user_id != key.user_id:
            # One user per connection: the hub subscription is per user.
            raise ApiError("A connection serves one account's user data stream.", code=-1020)
        sid = self._next_id
        self._next_id += 1
        self._subscriptions[sid] = (key.user_id, key.id)
        if not self._watching:
            self._watching = True
            self._tasks.append(asyncio.get_running_loop().create_task(self._watch()))
        return {"subscriptionId": sid}

    async def _unsubscribe(self, params: dict[str, Any]) -> dict[str, Any]:
        sid = params.get("subscriptionId")
        if sid is None:
            self._subscriptions.clear()
            return {}
        if not isinstance(sid, int) or isinstance(sid, bool) or sid not in self._subscriptions:
            raise errors.mandatory("subscriptionId")
        del self._subscriptions[sid]
        return {}

    async def _reply(self, rid: object, status: int, error: ApiError) -> None:
        body = {"id": rid, "status": status, "error": {"code": error.code, "msg": error.msg}}
        await self.send(text_data=json.dumps(body))

    async def _close_now(self, code: int) -> None:
        self._closing = True
        await self.close(code=code)

    # events -----------------------------------------------------------------------------

    def _wrap(self, data: bytes) -> list[bytes]:
        return [
            b'{"subscriptionId":' + str(sid).encode() + b',"event":' + data + b"}"
            for sid in tuple(self._subscriptions)
        ]

    def _end(self, sids: list[int]) -> None:
        """End these subscriptions with eventStreamTerminated; the connection stays open."""
        if not sids:
            return
        terminated = self._terminate_bytes()
        for sid in sids:
            del self._subscriptions[sid]
            frame = b'{"subscriptionId":' + str(sid).encode() + b',"event":' + terminated + b"}"
            try:
                self._queue.put_nowait(b"=" + frame)
            except asyncio.QueueFull:
                self._shutdown(CLOSE_SLOW)
                return

    def _control(self, message: dict[str, Any]) -> None:
        if message.get("ctl") == "key_off":
            self._end([s for s, (_, kid) in self._subscriptions.items() if kid == message["key"]])

    async def _send_loop(self) -> None:
        queue = self._queue
        while True:
            data = await queue.get()
            if data is None:
                await self.close(code=self._close_code)
                return
            frames = [data[1:]] if data[:1] == b"=" else self._wrap(data)
            for frame in frames:
                await self.send(text_data=frame.decode())
                SENT.labels(self.kind).inc()
            if frames and data[:1] != b"=":
                _observe_sent(data)

    async def _watch(self) -> None:
        while not self._closing:
            await asyncio.sleep(settings.USERDATA_KEY_CHECK_S)
            keys = {kid for _, kid in self._subscriptions.values()}
            gone = [kid for kid in keys if not await _key_active(kid)]
            self._end([s for s, (_, kid) in self._subscriptions.items() if kid in gone])


def _plain(value: object) -> str:
    """A JSON parameter value as the client signed it (ints and strings; Decimal for numbers
    with a fraction, kept exact)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
