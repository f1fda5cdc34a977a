"""The matcher: the adapter between the command streams, the engine and PostgreSQL.

One process per market shard, single-threaded. Per batch (docs/architecture.md, "The order path",
step 2):
read commands from the markets' Redis streams, apply them to the in-memory books in stream order,
then in ONE PostgreSQL statement (one transaction) insert the trades, update the orders and store
each market's last applied stream id and epoch, sequence, book update id and the fencing token;
after the commit, in one Redis round trip: acknowledge the entries, wake the waiting requests,
write and publish the book's changes; then enqueue settlement.

Recovery (docs/architecture.md, "Recovery"): the open orders in PostgreSQL, sorted by priority, are
the book. A primary first takes the shard's lease and a fencing token, commits the token on every
market row (waiting for a deposed primary's batch still in flight), and only then loads the
books, so nothing committed by a deposed primary can land after the load. It claims every entry
still pending on another consumer (consumers are named per process), re-reads them in order and
skips those at or below the stored stream id. A read is refused inside Redis once a newer token
exists, so a deposed primary cannot take entries out of order. Stream ids are compared only
within one stream epoch. No Redis or PostgreSQL error ends the loop: it backs off and starts over
as a new primary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import orjson
import redis
import structlog
from django.db import DatabaseError, InterfaceError, connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram

from clearing.fees import trade_fees
from clearing.holds import order_holds_original
from exchange_site.binance import times
from marketdata.depthstore import depth_queue, depth_write
from marketdata.feedbus import market_channel
from matching.engine import (
    AmendRejected,
    BookSnapshot,
    CancelOrder,
    CancelRejected,
    CancelReplace,
    DoneReason,
    MarketState,
    MarketStateChanged,
    OrderAccepted,
    OrderAmended,
    OrderBook,
    OrderDone,
    OrderRejected,
    OrderSnapshot,
    PlaceOrder,
    Side,
    StopTriggered,
    TradeExecuted,
)
from matching.execution_reports import MarketUnits, execution_reports
from matching.models import MarketEngineState
from matching.stream import (
    GROUP,
    ApplyFees,
    ReloadMarket,
    StreamCommand,
    entry_decode,
    stream_epoch_key,
    stream_key,
)
from orders.breaker import BreakerConfig, BreakerWatch
from orders.mapping import order_engine_fields
from orders.models import Market, MarketFeeChange, Order
from orders.selectors import market_normalize
from orders.verdicts import (
    VERDICT_TTL_S,
    PlacedFill,
    PlacedVerdict,
    placed_verdict_encode,
    verdict_key,
)
from userdata.publish import listening_users, user_events_publish

log = structlog.get_logger(__name__)

_batch_log = logging.getLogger(__name__)
COMMANDS = Counter("exchange_matcher_commands_total", "Commands applied", ["market"])
BATCH_SIZE = Histogram(
    "exchange_matcher_batch_size",
    "Commands per batch",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000),
)
MATCH_LATENCY = Histogram(
    "exchange_matcher_match_seconds",
    "Engine time per command (the batch's mean, observed once per batch)",
    buckets=(1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 5e-4, 1e-3),
)
STREAM_TO_COMMIT = Histogram(
    "exchange_matcher_stream_to_commit_seconds",
    "From a command's stream append to its batch commit",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
STREAM_LAG = Gauge(
    "exchange_matcher_stream_lag_seconds", "Age of the last applied command", ["market"]
)
BOOK_LEVELS = Gauge("exchange_matcher_book_levels", "Price levels on the book", ["market", "side"])
BATCH_FAILURES = Counter("exchange_matcher_batch_failures_total", "Batches rolled back and retried")
ERRORS = Counter(
    "exchange_matcher_errors_total", "Redis/PostgreSQL errors survived by the loop", ["kind"]
)

_DONE_STATUS = {
    DoneReason.FILLED: Order.Status.FILLED.value,
    DoneReason.CANCELED: Order.Status.CANCELED.value,
    DoneReason.EXPIRED: Order.Status.EXPIRED.value,
    DoneReason.EXPIRED_IN_MATCH: Order.Status.EXPIRED_IN_MATCH.value,
}
_ENGINE_STATE = {
    Market.Status.TRADING: MarketState.TRADING,
    Market.Status.CANCEL_ONLY: MarketState.CANCEL_ONLY,
    Market.Status.HALT: MarketState.HALT,
}
_WORKING = (Order.Status.NEW, Order.Status.PARTIALLY_FILLED)
_NEW = Order.Status.NEW.value
_PARTIAL = Order.Status.PARTIALLY_FILLED.value
_REJECTED = Order.Status.REJECTED.value
_INFRA_ERRORS = (redis.RedisError, DatabaseError, InterfaceError, OSError)


# One read: per market, its entries as (id, [field, value, ...]) in stream order.
Entries = list[tuple["_MarketCtx", list[tuple[str, dict[bytes, bytes]]]]]


class Deposed(Exception):
    """Another matcher holds a newer fencing token for this shard: stop writing."""


class MarketMoved(Exception):
    """The market was moved to another shard (its engine state row names another shard): this
    matcher must drop it; the batch is rolled back and the new shard's matcher re-reads it."""

    def __init__(self, market_id: int) -> None:
        super().__init__(f"market {market_id} moved to another shard")
        self.market_id = market_id


def stream_id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _arr(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of ints, Decimals, plain words (enum names), booleans or NULLs.

    One text parameter per column instead of a placeholder per value: the statement's text and
    plan stay the same whatever the batch size (docs/bench-matcher.md)."""
    return (
        "{"
        + ",".join([
            "NULL" if v is None else "t" if v is True else "f" if v is False else str(v)
            for v in values
        ])
        + "}"
    )  # fmt: skip


def _ints(values: Iterable[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _opt(values: Iterable[int | str | None]) -> str:
    """Ints or plain words, None as NULL."""
    return "{" + ",".join(["NULL" if v is None else str(v) for v in values]) + "}"


def _bools(values: Iterable[bool | None]) -> str:
    return "{" + ",".join([_BOOL[v] for v in values]) + "}"


_BOOL = {True: "t", False: "f", None: "NULL"}


def _words(values: Iterable[str]) -> str:
    """Array literal of tokens that may be empty (hex epochs, stream ids): each quoted."""
    return "{" + ",".join(f'"{v}"' for v in values) + "}"


@dataclass(slots=True)
class _OrderDelta:
    """What one batch changes on one order row (deltas add; the rest: last write wins)."""

    status: str | None = None
    exec_lots: int = 0
    quote_units: int = 0
    accepted_seq: int | None = None
    priority_seq: int | None = None
    is_working: bool | None = None
    set_working_at: bool = False
    done_seq: int | None = None
    reject_reason: str | None = None
    new_qty_lots: int | None = None
    new_price_ticks: int | None = None


@dataclass(slots=True)
class _MarketCtx:
    market: Market
    book: OrderBook
    last_stream_id: str
    read_id: str = "0"  # "0": our pending entries first (recovery), then ">" for new ones
    tick: Decimal = Decimal(0)
    step: Decimal = Decimal(0)
    quote_unit: Decimal = Decimal(0)
    epoch: str = ""
    last_id: tuple[int, int] = (0, 0)  # last_stream_id parsed
    full_depth: bool = False  # rewrite the whole published book at the next after-commit
    mid: int = 0  # market.pk (hot path)
    key: str = ""  # the stream key
    shard: int = 0  # the shard named by the engine state row at load; commits require it
    fees: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))  # (maker, taker) in force now
    breaker: BreakerConfig = field(default_factory=BreakerConfig)


@dataclass(slots=True)
class _Batch:
    """The result of applying one read to the books, before it is committed."""

    deltas: dict[int, _OrderDelta] = field(default_factory=dict)
    # Each trade with the (maker, taker) fee rates in force when it executed.
    trades: list[tuple[_MarketCtx, TradeExecuted, tuple[Decimal, Decimal]]] = field(
        default_factory=list
    )
    acks: dict[str, list[str]] = field(default_factory=dict)
    rids: dict[str, bytes] = field(default_factory=dict)  # request id -> verdict payload
    placed: dict[str, int] = field(default_factory=dict)  # request id -> order placed by it
    fees: list[tuple[Decimal, Decimal]] = field(default_factory=list)  # per trade (buyer, seller)
    requests: list[str] = field(default_factory=list)  # EngineRequest keys (field q) applied
    last_ids: dict[int, str] = field(default_factory=dict)  # market id -> last applied entry
    first_ms: dict[int, int] = field(default_factory=dict)  # market id -> oldest entry time
    touched: dict[int, _MarketCtx] = field(default_factory=dict)
    settle: set[int] = field(default_factory=set)  # markets with trades or finished orders
    counts: dict[int, int] = field(default_factory=dict)  # market id -> commands applied
    commands: int = 0
    engine_s: float = 0.0
    # Fee changes met in the stream: (change id, market id, maker, taker, seq before them).
    fees_applied: list[tuple[int, int, Decimal, Decimal, int]] = field(default_factory=list)
    reload: set[int] = field(default_factory=set)  # markets to re-read after the commit
    # Filled by the commit: its time, and each inserted trade's id by (market id, seq) (for
    # what after_commit publishes: verdicts with fills, trade and execution events).
    committed_at: datetime | None = None
    trade_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    # For the user data streams (matching.execution_reports): each applied command's events as
    # (market id, events), the adapter's own rejections (market id, order id, seq) and each
    # trade's (buyer fee, seller fee) by (market id, seq).
    event_lists: list[tuple[int, list[Any]]] = field(default_factory=list)
    rejects: list[tuple[int, int, int]] = field(default_factory=list)

    def delta(self, order_id: int) -> _OrderDelta:
        d = self.deltas.get(order_id)
        if d is None:
            d = self.deltas[order_id] = _OrderDelta()
        return d


# KEYS: stream, epoch key; ARGV: group, a fresh epoch token, the stored epoch. Creating the
# group means the stream is new (a stream's group lives and dies with it): a new epoch.
_ENSURE_GROUP = """
local ok = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(ok) == 'table' and ok.err then
  if not string.find(ok.err, 'BUSYGROUP') then return redis.error_reply(ok.err) end
  local e = redis.call('GET', KEYS[2])
  if e then return {e, 0} end
  redis.call('SET', KEYS[2], ARGV[3])
  return {ARGV[3], 0}
end
redis.call('SET', KEYS[2], ARGV[2])
return {ARGV[2], 1}
"""

# KEYS: verdict keys; ARGV[1] ttl, ARGV[2..] one payload per key.
_VERDICTS = """
for i = 1, #KEYS do
  redis.call('RPUSH', KEYS[i], ARGV[i + 1])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return #KEYS
"""


class Matcher:
    """setup() -> run() until stop(); SIGTERM finishes the batch, then exits."""

    def __init__(
        self,
        *,
        shard: int = 0,
        symbols: list[str] | None = None,
        batch_size: int = 1000,
        block_ms: int = 20,
        lease_ttl_ms: int = 5000,
        metrics_port: int | None = None,
        stream_retain_s: float = 300.0,
    ) -> None:
        self.shard = shard
        self.symbols = symbols
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.lease_ttl_ms = lease_ttl_ms
        self.metrics_port = metrics_port
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # Named per process: a deposed or dead matcher's pending entries are told apart from
        # ours and claimed (XAUTOCLAIM) by the next primary.
        self.consumer = f"matcher-{shard}-{self.token}"
        self.fence = 0
        self.stopping = False
        self.markets: dict[str, _MarketCtx] = {}  # by stream key
        self.redis: redis.Redis
        self._lease_renewed = 0.0
        self._gauges_at = 0.0
        # Entries pending on any consumer (ours after a failed batch, or a dead matcher's) are
        # claimed and re-read this often; already applied ones are only acked.
        self.pending_rescan_s = 5.0
        self._rescanned_at = time.monotonic()
        # Applied entries stay this long in the stream (for inspection and replay), then the
        # matcher trims them (XTRIM MINID), never past what it has committed.
        self.stream_retain_s = stream_retain_s
        self.trim_every_s = 1.0
        self._trimmed_at = 0.0
        # Markets created, moved in or out, or renamed while running are noticed this often.
        self.discover_s = 1.0
        self._discovered_at = time.monotonic()
        self.breakers = BreakerWatch()
        # Health signal (exchange_site.health): a heartbeat in Redis about once a second.
        self._heartbeat_at = 0.0
        self._last_batch_at: float | None = None  # wall clock of the last committed batch
        self._stream_lag_s = 0.0  # the largest stream lag of the last committed batch

    # ------------------------------------------------------------------ lifecycle

    def setup(self) -> None:
        from exchange_site.redis import get_redis

        self.redis = get_redis()
        if self.metrics_port:
            try:
                from django.conf import settings
                from prometheus_client import start_http_server

                start_http_server(self.metrics_port, addr=settings.METRICS_HOST)
            except OSError as exc:
                log.warning("matcher.metrics_port_busy", port=self.metrics_port, error=str(exc))
        self._become_primary()

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        backoff = 0.1
        primary = True
        try:
            while not self.stopping:
                try:
                    if not primary:
                        self._become_primary()
                        primary = True
                    self.run_once()
                    backoff = 0.1
                except Deposed:
                    # Another matcher committed (or read) with a newer token: our books may be
                    # stale. Wait as a standby again, then rebuild from PostgreSQL.
                    log.error("matcher.deposed", shard=self.shard, fence=self.fence)
                    primary = False
                except _INFRA_ERRORS as exc:
                    # No Redis or PostgreSQL error ends the matcher (docs/architecture.md,
                    # "Recovery"): back off, then start over as a new primary (the books are
                    # rebuilt).
                    ERRORS.labels(type(exc).__name__).inc()
                    log.exception("matcher.error", backoff_s=backoff)
                    primary = False
                    with contextlib.suppress(Exception):
                        connection.close()
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            self._release_lease()

    def run_once(self) -> int:
        """Read, apply and commit one batch; return the number of commands applied.

        On a failure the batch's books are rebuilt from PostgreSQL and its entries, still
        pending in the stream, are read again. Raises Deposed when fenced out.
        """
        self._renew_lease()
        self._discover()
        entries = self._read()
        if not entries:
            self._housekeeping()
            return 0
        touched = [ctx for ctx, _ in entries]
        try:
            batch = self._apply(entries)
            self._commit(batch)
        except Deposed:
            raise
        except MarketMoved as moved:
            log.warning("matcher.market_moved", shard=self.shard, market_id=moved.market_id)
            connection.close()
            self._reload(touched)
            return 0
        except Exception:
            BATCH_FAILURES.inc()
            log.exception("matcher.batch_failed", entries=sum(len(e) for _, e in entries))
            connection.close()  # a broken connection must not poison the next attempt
            self._reload(touched)
            return 0
        self._after_commit(batch)
        self._housekeeping()
        return batch.commands

    # ------------------------------------------------------------------ lease and fencing

    def _lease_key(self) -> str:
        return f"matcher:lease:{self.shard}"

    def _fence_key(self) -> str:
        return f"matcher:fence:{self.shard}"

    def _become_primary(self) -> None:
        """Lease, token, token committed on every market row, books loaded, pending claimed."""
        self._acquire_lease()
        qs = self._market_queryset()
        self._fence_commit([m.pk for m in qs])
        self._load_all()
        for key in self.markets:
            self._claim_pending(key)

    def _acquire_lease(self) -> None:
        """Wait as a standby until the shard's lease is ours; then take a new fencing token."""
        waited = False
        key = self._lease_key()
        while True:
            if self.redis.set(key, self.token, nx=True, px=self.lease_ttl_ms):
                break
            if self.redis.eval(self._RENEW, 1, key, self.token, self.lease_ttl_ms):
                break  # still ours (we are starting over after an error)
            if self.stopping:
                raise SystemExit(0)
            if not waited:
                log.info("matcher.standby", shard=self.shard)
                waited = True
            self._heartbeat("standby")
            time.sleep(self.lease_ttl_ms / 5000)
        # The token must exceed every token ever committed, also after Redis lost its counter.
        stored = (
            MarketEngineState.objects.order_by("-fence").values_list("fence", flat=True).first()
            or 0
        )
        fence = int(self.redis.incr(self._fence_key()))
        if fence <= stored:
            fence = stored + 1
            self.redis.set(self._fence_key(), fence)
        self.fence = fence
        self._lease_renewed = time.monotonic()
        log.info("matcher.primary", shard=self.shard, fence=fence)

    def _fence_commit(self, market_ids: list[int]) -> None:
        """Commit our token on every market's engine-state row before loading any book.

        The UPDATE waits for a deposed primary's batch transaction still holding a row; once it
        commits, the load below sees its result, and any later batch of it is refused by the
        fence. Raises Deposed when a newer token is already stored.
        """
        if not market_ids:
            return
        ids = sorted(market_ids)
        with transaction.atomic(durable=True), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO matching_marketenginestate (market_id, last_stream_id,"
                " stream_epoch, last_seq, update_id, last_trade_price_ticks, fence, shard,"
                " updated_at)"
                " SELECT m.id, '0-0', '', 0, 0, 0, 0, m.shard, now() FROM orders_market m"
                " WHERE m.id = ANY(%s::bigint[]) ON CONFLICT (market_id) DO NOTHING",
                [_ints(ids)],
            )
            cur.execute(
                "UPDATE matching_marketenginestate SET fence = GREATEST(fence, %s),"
                " updated_at = now() WHERE market_id = ANY(%s::bigint[]) RETURNING fence",
                [self.fence, _ints(ids)],
            )
            if any(row[0] != self.fence for row in cur.fetchall()):
                raise Deposed("a newer fencing token is stored")

    _RENEW = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
    )

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

    def _renew_lease(self) -> None:
        now = time.monotonic()
        if now - self._lease_renewed < self.lease_ttl_ms / 5000:
            return
        # Lost it (expired while we stalled)? Our reads and commits are fenced anyway: take it
        # back if it is free, else stand down.
        key, ttl = self._lease_key(), self.lease_ttl_ms
        if not self.redis.eval(self._RENEW, 1, key, self.token, ttl) and not self.redis.set(
            key, self.token, nx=True, px=ttl
        ):
            raise Deposed("lease lost")
        self._lease_renewed = now

    def _release_lease(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.eval(self._RELEASE, 1, self._lease_key(), self.token)

    # ------------------------------------------------------------------ books

    def _market_queryset(self) -> Any:
        qs = Market.objects.select_related("base", "quote").order_by("id")
        return qs.filter(symbol__in=self.symbols) if self.symbols else qs.filter(shard=self.shard)

    def _load_all(self) -> None:
        self.markets = {}
        for market in self._market_queryset():
            ctx = self._load(market)
            self.markets[stream_key(market.symbol)] = ctx
        log.info(
            "matcher.loaded",
            shard=self.shard,
            markets=sorted(m.market.symbol for m in self.markets.values()),
        )

    def _owns(self, market: Market) -> bool:
        return market.symbol in self.symbols if self.symbols else market.shard == self.shard

    def _reload(self, contexts: Iterable[_MarketCtx]) -> None:
        """Rebuild the books from PostgreSQL; drop markets no longer ours (moved, renamed out of
        --markets, deleted)."""
        for ctx in list(contexts):
            self.markets.pop(ctx.key, None)
            market = Market.objects.select_related("base", "quote").filter(pk=ctx.market.pk).first()
            if market is None or not self._owns(market):
                log.info("matcher.market_dropped", shard=self.shard, market_id=ctx.market.pk)
                self.breakers.windows.pop(ctx.market.pk, None)
                continue
            key = stream_key(market.symbol)
            self.markets[key] = self._load(market)
            self._claim_pending(key)

    def _discover(self) -> None:
        """Every `discover_s`: load the markets that became ours (created, moved in), re-read or
        drop the ones renamed or moved out, refresh the circuit-breaker settings. A new market is
        traded within about a second, without a restart."""
        now = time.monotonic()
        if now - self._discovered_at < self.discover_s:
            return
        self._discovered_at = now
        qs = Market.objects.all()
        qs = qs.filter(symbol__in=self.symbols) if self.symbols else qs.filter(shard=self.shard)
        try:
            rows = {
                pk: (symbol, BreakerConfig(pct, window))
                for pk, symbol, pct, window in qs.values_list(
                    "pk", "symbol", "breaker_move_pct", "breaker_window_s"
                )
            }
            loaded = {ctx.market.pk: ctx for ctx in self.markets.values()}
            for pk, ctx in loaded.items():
                row = rows.get(pk)
                if row is None or row[0] != ctx.market.symbol:
                    self._reload([ctx])
                else:
                    ctx.breaker = row[1]
            new = [pk for pk in rows if pk not in loaded]
            if new:
                markets = list(qs.select_related("base", "quote").filter(pk__in=new).order_by("id"))
                if markets:
                    self._fence_commit([m.pk for m in markets])
                for market in markets:
                    key = stream_key(market.symbol)
                    self.markets[key] = self._load(market)
                    self._claim_pending(key)
                log.info("matcher.markets_added", shard=self.shard, market_ids=new)
        except (DatabaseError, redis.RedisError) as exc:
            log.warning("matcher.discover_failed", error=str(exc))
            connection.close()

    def _load(self, market: Market) -> _MarketCtx:
        """Restore the market's book from its open orders in PostgreSQL; publish it whole."""
        market = market_normalize(market)
        state, _ = MarketEngineState.objects.get_or_create(
            market=market, defaults={"shard": market.shard}
        )
        tick, step = market.tick_size, market.step_size
        unit = tick * step
        rows = list(
            Order.objects.filter(market=market, status__in=_WORKING).order_by("priority_seq", "id")
        )
        holds = order_holds_original(o.id for o in rows)
        orders: list[OrderSnapshot] = []
        stops: list[OrderSnapshot] = []
        for row in rows:
            fields = order_engine_fields(row, market, holds.get(row.id, Decimal(0)))
            snap = OrderSnapshot(
                order_id=row.id,
                owner_id=row.user_id,
                filled_lots=int(row.executed_qty / step),
                filled_quote=int(row.cumulative_quote_qty / unit),
                priority=row.priority_seq or 0,
                **fields,
            )
            (orders if row.is_working else stops).append(snap)
        book = OrderBook.restore(
            BookSnapshot(
                state=_ENGINE_STATE[Market.Status(market.status)],
                last_seq=state.last_seq,
                update_id=state.update_id,
                last_trade_price_ticks=state.last_trade_price_ticks,
                orders=orders,
                stops=stops,
            )
        )
        ctx = _MarketCtx(market, book, state.last_stream_id, "0", tick, step, unit)
        ctx.mid, ctx.key = market.pk, stream_key(market.symbol)
        ctx.shard = state.shard
        ctx.fees = (market.maker_fee, market.taker_fee)
        ctx.breaker = BreakerConfig(market.breaker_move_pct, market.breaker_window_s)
        ctx.epoch = state.stream_epoch
        ctx.last_id = stream_id_tuple(state.last_stream_id)
        ctx.full_depth = True  # publish the restored book whole
        self._ensure_group(ctx)
        return ctx

    def _depth_full(self, ctx: _MarketCtx) -> None:
        """Publish the whole book and the last price (after a load or a Redis loss)."""
        bids, asks = ctx.book.depth()
        ctx.book.take_depth_changes()  # the full write covers them
        depth_write(
            self.redis, symbol=ctx.market.symbol, update_id=ctx.book.update_id,
            bids=dict(bids), asks=dict(asks), full=True,
            last_price_ticks=ctx.book.last_trade_price_ticks,
        )  # fmt: skip
        ctx.full_depth = False

    def _ensure_group(self, ctx: _MarketCtx) -> None:
        """Create the stream's group if missing; a new group is a new stream epoch."""
        symbol = ctx.market.symbol
        fresh = secrets.token_hex(8)
        epoch_raw, created = cast(
            "list[Any]",
            self.redis.eval(
                _ENSURE_GROUP, 2, stream_key(symbol), stream_epoch_key(symbol), GROUP, fresh,
                ctx.epoch,
            ),
        )  # fmt: skip
        epoch = epoch_raw.decode() if isinstance(epoch_raw, bytes) else str(epoch_raw)
        if epoch != ctx.epoch:
            # A stream we have never applied from: its ids say nothing about what we applied.
            log.warning("matcher.new_stream_epoch", symbol=symbol, old=ctx.epoch, new=epoch)
            ctx.epoch = epoch
            ctx.last_stream_id = "0-0"
            ctx.last_id = (0, 0)
            ctx.full_depth = True  # the depth store most likely went with the stream
        if created:
            ctx.full_depth = True
        ctx.read_id = "0"
        if ctx.full_depth:
            self._depth_full(ctx)

    def _claim_pending(self, key: str) -> None:
        """Move every entry pending on another consumer to us (read again, in order)."""
        start = "0-0"
        while True:
            resp = self.redis.xautoclaim(key, GROUP, self.consumer, 0, start_id=start, count=1000)
            nxt = resp[0].decode() if isinstance(resp[0], bytes) else str(resp[0])
            if nxt == "0-0":
                break
            start = nxt
        consumers: list[dict[str, Any]] = self.redis.xinfo_consumers(key, GROUP)
        for c in consumers:
            name = c["name"].decode() if isinstance(c["name"], bytes) else str(c["name"])
            if name != self.consumer and not c.get("pending"):
                self.redis.xgroup_delconsumer(key, GROUP, name)
        self.markets[key].read_id = "0"

    # ------------------------------------------------------------------ read and apply

    def _read(self) -> Entries:
        if time.monotonic() - self._rescanned_at >= self.pending_rescan_s:
            self._rescanned_at = time.monotonic()
            for key, ctx in self.markets.items():
                try:
                    self._claim_pending(key)
                except redis.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    self._ensure_group(ctx)
        pending_round = any(ctx.read_id == "0" for ctx in self.markets.values())
        result = self._read_once()
        if not result and pending_round and not self.stopping:
            result = self._read_once()  # nothing pending: read new entries now
        return result

    def _read_once(self) -> Entries:
        if not self.markets:
            time.sleep(self.block_ms / 1000)
            return []
        keys = list(self.markets)
        ids = [self.markets[k].read_id for k in keys]
        fence_key = self._fence_key()
        # The read is refused once a newer primary took a token: WATCH the shard's fence
        # counter, check it, then read in MULTI/EXEC, which Redis aborts if the counter changed
        # in between. So a deposed matcher cannot take entries that the new primary would then
        # see out of order (claimed after it read later ones).
        pipe = self.redis.pipeline(transaction=True)
        try:
            pipe.watch(fence_key)  # type: ignore[no-untyped-call]
            current = pipe.get(fence_key)
            if current is None:  # Redis lost it: put ours back, unless a newer one lands first
                pipe.reset()
                self.redis.set(fence_key, self.fence, nx=True)
                return []
            if int(current) != self.fence:
                raise Deposed("a newer fencing token exists")
            pipe.multi()
            pipe.xreadgroup(
                GROUP, self.consumer, dict(zip(keys, ids, strict=True)), count=self.batch_size,
            )  # fmt: skip
            for key in keys:
                pipe.xrevrange(key, count=1)
            resp, *lasts = pipe.execute()
        except redis.WatchError as exc:
            raise Deposed("a newer fencing token exists") from exc
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                raise
            # The stream (or its group) is gone: Redis was flushed or restarted, or the key was
            # deleted. Rebuild from PostgreSQL (the books as committed, the markets' current
            # trading state in case a state command was lost), which recreates each group as a
            # new epoch and republishes the depth; the sweep re-enqueues whatever was lost.
            log.warning("matcher.stream_recreated", error=str(exc))
            self._reload(list(self.markets.values()))
            return []
        finally:
            pipe.reset()
        if not resp:
            # Nothing new anywhere: wait for the next entry after the last one of each stream.
            waits = {
                k: (last[0][0].decode() if last else "0-0")
                for k, last in zip(keys, lasts, strict=True)
            }
            for ctx in self.markets.values():
                ctx.read_id = ">"
            if all(i == ">" for i in ids):
                with contextlib.suppress(redis.ResponseError):
                    self.redis.xread(cast("dict[Any, Any]", waits), count=1, block=self.block_ms)
            return []
        # RESP2: [[stream key, [(entry id, {field: value}), ...]], ...]
        streams_read = cast("list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]", resp)
        result: Entries = []
        seen: set[str] = set()
        for raw_key, entries in streams_read:
            key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
            ctx = self.markets[key]
            seen.add(key)
            # No fields: pending but trimmed (applied long ago), acknowledged only.
            decoded = [(eid.decode(), fields or {}) for eid, fields in entries]
            if ctx.read_id == "0" and not decoded:
                ctx.read_id = ">"
            if decoded:
                result.append((ctx, decoded))
        for key, ctx in self.markets.items():
            if ctx.read_id == "0" and key not in seen:
                ctx.read_id = ">"
        return result

    def _apply(self, entries: Entries) -> _Batch:
        batch = _Batch()
        decoded: list[tuple[_MarketCtx, str, StreamCommand | None, str | None, str | None]] = []
        place_ids: list[int] = []
        request_rids: list[str] = []
        cmd: StreamCommand | None
        for ctx, items in entries:
            batch.acks.setdefault(ctx.key, []).extend([eid for eid, _ in items])
            last = ctx.last_id
            # Ids only grow within a read: compare each only if the first is not past `last`.
            ms_s, _, sq_s = items[0][0].partition("-")
            check = (int(ms_s), int(sq_s)) <= last
            for entry_id, fields in items:
                if check:
                    ms_s, _, sq_s = entry_id.partition("-")
                    if (int(ms_s), int(sq_s)) <= last:
                        continue  # applied and committed before a crash; only the ack was lost
                    check = False
                raw = fields.get(b"c")
                try:
                    if raw is None:
                        raise KeyError("c")
                    cmd, rid = entry_decode(raw)
                except (KeyError, ValueError, IndexError, TypeError):
                    log.error("matcher.bad_entry", stream=ctx.market.symbol, id=entry_id)
                    decoded.append((ctx, entry_id, None, None, None))
                    continue
                place = cmd.place if type(cmd) is CancelReplace else cmd
                raw_q = fields.get(b"q")
                request = raw_q.decode() if raw_q else None
                if type(place) is PlaceOrder:
                    place_ids.append(place.order_id)
                elif request:
                    request_rids.append(request)
                decoded.append((ctx, entry_id, cmd, rid, request))
                if type(cmd) is ReloadMarket:
                    # Re-read after the commit: the later entries stay pending (not acked) and
                    # are read again then.
                    acks = batch.acks[ctx.key]
                    del acks[acks.index(entry_id) + 1 :]
                    break
        # A place applies once: only orders still PENDING_NEW in PostgreSQL (a re-enqueued
        # duplicate of an applied order is dropped here, not rejected by the engine). A
        # persisted request (amend, state, cancel-all) likewise applies once.
        pending, unapplied = self._not_yet_applied(place_ids, request_rids)

        clock = time.perf_counter
        engine_s = 0.0
        collect = self._collect
        touched, last_ids, rids, counts = batch.touched, batch.last_ids, batch.rids, batch.counts
        event_lists = batch.event_lists
        for ctx, entry_id, cmd, rid, request in decoded:
            mid = ctx.mid
            if mid not in touched:
                touched[mid] = ctx
                batch.first_ms[mid] = int(entry_id.partition("-")[0])
            last_ids[mid] = entry_id
            if rid:
                rids[rid] = b"1"
            if cmd is None:
                continue
            if type(cmd) is ApplyFees or type(cmd) is ReloadMarket:
                self._apply_config(batch, ctx, cmd)
                continue
            place = cmd.place if type(cmd) is CancelReplace else cmd
            if type(place) is PlaceOrder:
                row = pending.pop(place.order_id, None)
                if row is None:
                    continue
                if rid and type(cmd) is PlaceOrder:
                    batch.placed[rid] = place.order_id
                if not _units_match(ctx, place, row):
                    # Priced in another tick/step than the market's now (accepted against the
                    # configuration before a change): never matched.
                    _reject(batch, ctx, place.order_id, "MARKET_CONFIG_CHANGED")
                    if type(cmd) is not CancelReplace:
                        continue
                    cmd = CancelOrder(cmd.cancel_order_id, cmd.owner_id)
            elif request:
                if request not in unapplied:
                    continue
                unapplied.discard(request)
                batch.requests.append(request)
            t0 = clock()
            events = ctx.book.apply(cmd)  # type: ignore[arg-type]
            engine_s += clock() - t0
            counts[mid] = counts.get(mid, 0) + 1
            collect(batch, ctx, events)
            event_lists.append((mid, events))
        batch.commands = sum(counts.values())
        batch.engine_s = engine_s
        return batch

    def _not_yet_applied(
        self, place_ids: list[int], request_rids: list[str]
    ) -> tuple[dict[int, tuple[Decimal | None, Decimal | None, Decimal | None]], set[str]]:
        """Places whose order is still PENDING_NEW (id -> its price, quantity, stop price) and
        persisted requests not yet applied."""
        pending: dict[int, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
        if not place_ids and not request_rids:
            return pending, set()
        with connection.cursor() as cur:
            if place_ids:
                cur.execute(
                    "SELECT id, price, quantity, stop_price FROM orders_order"
                    " WHERE id = ANY(%s::bigint[]) AND status = 'PENDING_NEW'",
                    [_ints(place_ids)],
                )
                pending = {row[0]: (row[1], row[2], row[3]) for row in cur.fetchall()}
            unapplied: set[str] = set()
            if request_rids:
                cur.execute(
                    "SELECT rid FROM matching_enginerequest WHERE rid = ANY(%s)"
                    " AND applied_at IS NULL",
                    [request_rids],
                )
                unapplied = {row[0] for row in cur.fetchall()}
        return pending, unapplied

    def _collect(self, batch: _Batch, ctx: _MarketCtx, events: list[Any]) -> None:
        deltas = batch.deltas
        settle = False
        for ev in events:
            t = type(ev)
            if t is TradeExecuted:
                settle = True
                batch.trades.append((ctx, ev, ctx.fees))
                lots = ev.qty_lots
                quote = ev.price_ticks * lots
                d = deltas.get(ev.maker_order_id)
                if d is None:
                    d = deltas[ev.maker_order_id] = _OrderDelta()
                d.exec_lots += lots
                d.quote_units += quote
                if d.done_seq is None:
                    d.status = _PARTIAL
                d = deltas.get(ev.taker_order_id)
                if d is None:
                    d = deltas[ev.taker_order_id] = _OrderDelta()
                d.exec_lots += lots
                d.quote_units += quote
                if d.done_seq is None:
                    d.status = _PARTIAL
                continue
            if t is CancelRejected or t is AmendRejected or t is MarketStateChanged:
                continue  # no row changes: the order's state already says why (finished)
            d = deltas.get(ev.order_id)
            if d is None:
                d = deltas[ev.order_id] = _OrderDelta()
            if t is OrderAccepted:
                d.status = _NEW
                d.accepted_seq = d.priority_seq = ev.seq
                d.is_working = ev.resting
                d.set_working_at = ev.resting
            elif t is OrderDone:
                d.status = _DONE_STATUS[ev.reason]
                d.done_seq = ev.seq
                d.is_working = False
                settle = True
            elif t is OrderRejected:
                d.status = _REJECTED
                d.reject_reason = ev.reason.name
                d.done_seq = ev.seq
                d.is_working = False
                settle = True
            elif t is OrderAmended:
                d.new_qty_lots = ev.new_qty_lots
                d.new_price_ticks = ev.new_price_ticks
                if not ev.priority_kept:
                    d.priority_seq = ev.seq
            elif t is StopTriggered:
                d.priority_seq = ev.seq
                d.is_working = True
                d.set_working_at = True
        if settle:
            batch.settle.add(ctx.mid)

    def _apply_config(self, batch: _Batch, ctx: _MarketCtx, cmd: ApplyFees | ReloadMarket) -> None:
        """The matcher's own stream commands (orders.markets), applied in stream order."""
        mid = ctx.mid
        if isinstance(cmd, ReloadMarket):
            batch.reload.add(mid)
            symbol = Market.objects.filter(pk=mid).values_list("symbol", flat=True).first()
            if symbol != ctx.market.symbol:
                batch.last_ids[mid] = "0-0"  # renamed: the new stream starts from its beginning
            return
        applied = {change_id for change_id, *_ in batch.fees_applied}
        superseded = MarketFeeChange.objects.filter(market_id=mid, pk__gte=cmd.change_id).exclude(
            applied_at=None
        )
        if cmd.change_id in applied or superseded.exists():
            return  # a repeat (the sweep re-enqueued it), or a later change already applies
        ctx.fees = (Decimal(cmd.maker_fee), Decimal(cmd.taker_fee))
        batch.fees_applied.append((cmd.change_id, mid, *ctx.fees, ctx.book.last_seq))

    # ------------------------------------------------------------------ commit

    def _commit_fees(self, batch: _Batch, now: Any) -> None:
        """Record where each fee change took effect; the market row carries the rates in force
        at the committed stream position (what a restarted matcher loads)."""
        for change_id, mid, maker, taker, seq in batch.fees_applied:
            MarketFeeChange.objects.filter(pk=change_id, applied_at=None).update(
                applied_seq=seq, applied_at=now
            )
            Market.objects.filter(pk=mid).update(maker_fee=maker, taker_fee=taker)

    # One statement: the fence check, the trades, the orders and the applied requests. Each
    # column is one array parameter (unnest), so the text and the plan never change. A fence
    # check that fails (fewer rows in s) raises Deposed, which rolls the whole statement back.
    _STATE_SQL = (
        "s AS (UPDATE matching_marketenginestate e SET last_stream_id = v.sid,"
        " stream_epoch = v.epoch, last_seq = v.seq, update_id = v.uid,"
        " last_trade_price_ticks = v.ltp, fence = %s, updated_at = %s"
        " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::bigint[],"
        " %s::bigint[], %s::int[]) AS v(mid, sid, epoch, seq, uid, ltp, shard)"
        " WHERE e.market_id = v.mid AND e.fence <= %s AND e.shard = v.shard"
        " RETURNING e.market_id)"
    )
    _TRADES_SQL = (
        "t AS (INSERT INTO orders_trade (market_id, seq, maker_order_id, taker_order_id,"
        " buyer_id, seller_id, price, qty, quote_qty, is_buyer_maker, buyer_fee, seller_fee,"
        " created_at)"
        " SELECT v.mid, v.seq, v.maker, v.taker, v.buyer, v.seller, m.tick_size * v.ticks,"
        " m.step_size * v.lots, m.tick_size * m.step_size * (v.ticks * v.lots), v.ibm,"
        " v.bfee, v.sfee, %s"
        " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],"
        " %s::bigint[], %s::bigint[], %s::bigint[], %s::bool[], %s::numeric[], %s::numeric[])"
        " AS v(mid, seq, maker, taker, buyer, seller, ticks, lots, ibm, bfee, sfee)"
        " JOIN orders_market m ON m.id = v.mid RETURNING id, market_id, seq)"
    )
    _ORDERS_SQL = (
        "o AS (UPDATE orders_order o SET"
        " status = COALESCE(v.status, o.status),"
        " executed_qty = o.executed_qty + m.step_size * v.dlots,"
        " cumulative_quote_qty = o.cumulative_quote_qty"
        "   + m.tick_size * m.step_size * v.dunits,"
        " accepted_seq = COALESCE(v.accepted_seq, o.accepted_seq),"
        " priority_seq = COALESCE(v.priority_seq, o.priority_seq),"
        " is_working = COALESCE(v.is_working, o.is_working),"
        " working_at = CASE WHEN v.set_working THEN COALESCE(o.working_at, %s)"
        "   ELSE o.working_at END,"
        " done_at = CASE WHEN v.done_seq IS NOT NULL THEN %s ELSE o.done_at END,"
        " done_seq = COALESCE(v.done_seq, o.done_seq),"
        " reject_reason = COALESCE(v.reject_reason, o.reject_reason),"
        " quantity = COALESCE(m.step_size * v.new_lots, o.quantity),"
        " price = COALESCE(m.tick_size * NULLIF(v.new_ticks, 0), o.price),"
        " updated_at = %s"
        " FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[],"
        " %s::bigint[], %s::bool[], %s::bool[], %s::bigint[], %s::text[], %s::bigint[],"
        " %s::bigint[]) AS v(id, status, dlots, dunits, accepted_seq, priority_seq, is_working,"
        " set_working, done_seq, reject_reason, new_lots, new_ticks), orders_market m"
        " WHERE o.id = v.id AND m.id = o.market_id RETURNING o.id)"
    )
    _REQUESTS_SQL = (
        "r AS (UPDATE matching_enginerequest SET applied_at = %s WHERE rid = ANY(%s) RETURNING id)"
    )

    def _commit(self, batch: _Batch) -> None:
        now = batch.committed_at = timezone.now()
        parts: list[str] = []
        params: list[Any] = []
        mids = sorted(batch.touched)
        ctxs = [batch.touched[mid] for mid in mids]
        parts.append(self._STATE_SQL)
        params += [
            self.fence, now, _ints(mids), _words(batch.last_ids[mid] for mid in mids),
            _words(ctx.epoch for ctx in ctxs), _ints(ctx.book.last_seq for ctx in ctxs),
            _ints(ctx.book.update_id for ctx in ctxs),
            _ints(ctx.book.last_trade_price_ticks for ctx in ctxs),
            _ints(ctx.shard for ctx in ctxs), self.fence,
        ]  # fmt: skip
        if batch.trades:
            parts.append(self._TRADES_SQL)
            params += [now, *self._trade_columns(batch)]
        if batch.deltas:
            parts.append(self._ORDERS_SQL)
            params += [now, now, now, *self._order_columns(batch)]
        if batch.requests:
            parts.append(self._REQUESTS_SQL)
            params += [now, batch.requests]
        ids = "(SELECT array_agg(ARRAY[id, market_id, seq]) FROM t)" if batch.trades else "NULL"
        sql = f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM s), {ids}"  # noqa: S608 - constant parts
        with transaction.atomic(durable=True), connection.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            if row is None or row[0] != len(mids):
                cur.execute(
                    "SELECT market_id, shard FROM matching_marketenginestate"
                    " WHERE market_id = ANY(%s::bigint[])",
                    [_ints(mids)],
                )
                for mid, shard in cur.fetchall():
                    if shard != batch.touched[mid].shard:
                        raise MarketMoved(mid)
                raise Deposed("a newer fencing token committed")
            if batch.fees_applied:
                self._commit_fees(batch, now)
            batch.trade_ids = {(mid, seq): tid for tid, mid, seq in row[1] or ()}
        for mid, ctx in batch.touched.items():
            ctx.last_stream_id = batch.last_ids[mid]
            ctx.last_id = stream_id_tuple(ctx.last_stream_id)

    def _trade_columns(self, batch: _Batch) -> list[str]:
        cols: list[list[int]] = [[] for _ in range(8)]
        mid, seq, maker, taker, buyer, seller, ticks, lots = cols
        ibm: list[bool] = []
        bfee: list[Decimal] = []
        sfee: list[Decimal] = []
        for ctx, ev, (maker_rate, taker_rate) in batch.trades:
            m = ctx.market
            taker_buys = ev.taker_side == Side.BUY
            qty = ctx.step * ev.qty_lots
            quote = ctx.quote_unit * (ev.price_ticks * ev.qty_lots)
            mid.append(ctx.mid)
            seq.append(ev.seq)
            maker.append(ev.maker_order_id)
            taker.append(ev.taker_order_id)
            buyer.append(ev.taker_owner_id if taker_buys else ev.maker_owner_id)
            seller.append(ev.maker_owner_id if taker_buys else ev.taker_owner_id)
            ticks.append(ev.price_ticks)
            lots.append(ev.qty_lots)
            ibm.append(not taker_buys)
            buyer_fee, seller_fee = trade_fees(
                qty=qty, quote=quote, taker_buys=taker_buys, maker_rate=maker_rate,
                taker_rate=taker_rate, base_places=m.base.precision, quote_places=m.quote.precision,
            )  # fmt: skip
            bfee.append(buyer_fee)
            sfee.append(seller_fee)
        batch.fees = list(zip(bfee, sfee, strict=True))
        return [*(_ints(c) for c in cols), _bools(ibm), _arr(bfee), _arr(sfee)]

    def _order_columns(self, batch: _Batch) -> list[str]:
        items = sorted(batch.deltas.items())
        ds = [d for _, d in items]
        return [
            _ints([oid for oid, _ in items]),
            _opt([d.status for d in ds]),
            _ints([d.exec_lots for d in ds]),
            _ints([d.quote_units for d in ds]),
            _opt([d.accepted_seq for d in ds]),
            _opt([d.priority_seq for d in ds]),
            _bools([d.is_working for d in ds]),
            _bools([d.set_working_at for d in ds]),
            _opt([d.done_seq for d in ds]),
            _opt([d.reject_reason for d in ds]),
            _opt([d.new_qty_lots for d in ds]),
            _opt([d.new_price_ticks for d in ds]),
        ]

    # ------------------------------------------------------------------ after commit

    def _after_commit(self, batch: _Batch) -> None:
        """One Redis round trip (MULTI/EXEC, so readers see each book whole): acks, verdicts,
        depth changes and their publication. Then settlement is enqueued."""
        now_ms = time.time() * 1000
        pipe = self.redis.pipeline(transaction=True)
        for key, ids in batch.acks.items():
            pipe.xack(key, GROUP, *ids)
        if batch.placed:
            self._placed_verdicts(batch)
        if batch.rids:
            keys = [verdict_key(rid) for rid in batch.rids]
            pipe.eval(_VERDICTS, len(keys), *keys, VERDICT_TTL_S, *batch.rids.values())
        full: list[_MarketCtx] = []
        # T: the trades' time (created_at, what REST shows); c: when the commit had returned
        # (the live streams' commit-to-send histogram starts there).
        trade_ms = int(batch.committed_at.timestamp() * 1000) if batch.committed_at else 0
        committed = time.time()
        trades = self._public_trades(batch)
        for mid, ctx in batch.touched.items():
            # One message per market and batch (marketdata.live reads it): the depth diff with
            # its update ids, then the trades, in engine order, with the commit time.
            message: dict[str, Any] = {"c": committed, "T": trade_ms}
            if ctx.full_depth:
                full.append(ctx)  # rewritten whole below, not published: subscribers resync
            else:
                changes = ctx.book.take_depth_changes()
                if changes is not None:
                    depth_queue(
                        pipe, symbol=ctx.market.symbol, update_id=changes.last_update_id,
                        bids=changes.bids, asks=changes.asks,
                        last_price_ticks=ctx.book.last_trade_price_ticks,
                    )  # fmt: skip
                    message["U"] = changes.first_update_id
                    message["u"] = changes.last_update_id
                    message["b"] = list(changes.bids.items())
                    message["a"] = list(changes.asks.items())
            if mid in trades:
                message["t"] = trades[mid]
            if len(message) > 2:
                pipe.publish(market_channel(ctx.market.symbol), orjson.dumps(message))
        try:
            pipe.execute()
            for ctx in full:
                self._depth_full(ctx)
        except redis.RedisError:
            # Committed, but not published: entries stay pending (acked on a re-read, being at
            # or below the stored id) and the next batch republishes these books whole.
            for ctx in batch.touched.values():
                ctx.full_depth = True
            raise
        lag_s = 0.0
        for mid, ctx in batch.touched.items():
            symbol = ctx.market.symbol
            STREAM_TO_COMMIT.observe(max(0.0, (now_ms - batch.first_ms[mid]) / 1000))
            lag_s = max(lag_s, (now_ms - ctx.last_id[0]) / 1000)
            STREAM_LAG.labels(symbol).set(max(0.0, (now_ms - ctx.last_id[0]) / 1000))
            COMMANDS.labels(symbol).inc(batch.counts.get(mid, 0))
        self._last_batch_at, self._stream_lag_s = now_ms / 1000, max(0.0, lag_s)
        if batch.commands and _batch_log.isEnabledFor(logging.INFO):
            # The request ids (command ids) applied, and the trades' seqs per market: the link
            # from an API request to the settlement log (exchange_site.logctx).
            seqs: dict[str, list[int]] = {}
            for ctx, trade, _fees in batch.trades:
                span = seqs.setdefault(ctx.market.symbol, [trade.seq, trade.seq])
                span[0], span[1] = min(span[0], trade.seq), max(span[1], trade.seq)
            log.info(
                "matcher.batch", shard=self.shard, commands=batch.commands,
                command_ids=sorted(batch.rids), trade_seqs=seqs,
            )  # fmt: skip
        BATCH_SIZE.observe(batch.commands)
        if batch.commands:
            MATCH_LATENCY.observe(batch.engine_s / batch.commands)
        self._publish_user_events(batch)
        if batch.trades:
            from marketdata.tasks import candles_roll_enqueue

            for mid in {ctx.mid for ctx, _, _ in batch.trades}:
                candles_roll_enqueue(mid, self.redis)
        if batch.settle:
            from clearing.tasks import settle_market_enqueue

            for mid in batch.settle:
                settle_market_enqueue(mid, self.redis)
        if batch.trades:
            self._observe_prices(batch)
        if batch.reload:
            self._reload([batch.touched[mid] for mid in batch.reload])

    def _placed_verdicts(self, batch: _Batch) -> None:
        """The verdict on each new order: its row as committed and its trades in this batch
        (orders.verdicts.PlacedVerdict), so the API answers without re-reading them."""
        fills: dict[int, list[PlacedFill]] = {oid: [] for oid in batch.placed.values()}
        for (ctx, ev, _), (bfee, sfee) in zip(batch.trades, batch.fees, strict=True):
            for oid in (ev.maker_order_id, ev.taker_order_id):
                if oid in fills:
                    tid = batch.trade_ids[(ctx.mid, ev.seq)]
                    fills[oid].append(PlacedFill(tid, ev.price_ticks, ev.qty_lots, bfee, sfee))
        assert batch.committed_at is not None
        ms = int(batch.committed_at.timestamp() * 1000)
        for rid, oid in batch.placed.items():
            d = batch.deltas.get(oid)
            if d is None or d.status is None or d.is_working is None:
                continue  # not decided in this batch: the bare signal, the caller re-reads
            batch.rids[rid] = placed_verdict_encode(
                PlacedVerdict(
                    d.status, d.exec_lots, d.quote_units, d.is_working, d.set_working_at,
                    d.reject_reason, ms, fills[oid],
                )
            )  # fmt: skip

    def _publish_user_events(self, batch: _Batch) -> None:
        """executionReports of the committed batch for the owners with an open user data
        stream (one PUBSUB NUMSUB; for listeners one query of the orders' fields). Never
        raises: the batch is committed, a lost event must not fail the matcher."""
        if not batch.event_lists and not batch.rejects:
            return
        try:
            owners: set[int] = set()
            for _, events in batch.event_lists:
                for ev in events:
                    if type(ev) is TradeExecuted:
                        owners.add(ev.maker_owner_id)
                        owners.add(ev.taker_owner_id)
                    else:
                        owner = getattr(ev, "owner_id", None)
                        if owner is not None:
                            owners.add(owner)
            if batch.rejects:
                owners.update(
                    Order.objects.filter(pk__in=[r[1] for r in batch.rejects]).values_list(
                        "user_id", flat=True
                    )
                )
            listening = listening_users(self.redis, owners)
            if not listening:
                return
            units = {
                mid: MarketUnits(
                    ctx.market.symbol,
                    ctx.tick,
                    ctx.step,
                    ctx.market.base.code,
                    ctx.market.quote.code,
                    ctx.market.base.precision,
                    ctx.market.quote.precision,
                )
                for mid, ctx in batch.touched.items()
            }
            committed = batch.committed_at or timezone.now()
            reports = execution_reports(
                commands=batch.event_lists, rejects=batch.rejects, units=units,
                fees={
                    (ctx.mid, ev.seq): fee
                    for (ctx, ev, _), fee in zip(batch.trades, batch.fees, strict=True)
                },
                trade_ids=batch.trade_ids,
                deltas={oid: (d.exec_lots, d.quote_units) for oid, d in batch.deltas.items()},
                listening=listening, committed_ms=times.to_ms(committed),
                event_ms=times.now_ms(),
            )  # fmt: skip
            user_events_publish(self.redis, reports)
        except Exception:
            log.warning("matcher.user_events_failed", exc_info=True)
            with contextlib.suppress(Exception):
                if connection.needs_rollback or not connection.is_usable():
                    connection.close()

    @staticmethod
    def _public_trades(batch: _Batch) -> dict[int, list[list[int | bool]]]:
        """Per market: [trade id, price ticks, qty lots, buyer is maker] in engine order."""
        out: dict[int, list[list[int | bool]]] = {}
        for ctx, ev, _ in batch.trades:
            tid = batch.trade_ids.get((ctx.mid, ev.seq))
            if tid is not None:
                out.setdefault(ctx.mid, []).append(
                    [tid, ev.price_ticks, ev.qty_lots, ev.taker_side != Side.BUY]
                )
        return out

    def _observe_prices(self, batch: _Batch) -> None:
        """The circuit breaker's input (orders.breaker): this batch's trade prices per market."""
        prices: dict[int, list[int]] = {}
        contexts: dict[int, _MarketCtx] = {}
        for ctx, ev, _ in batch.trades:
            if ctx.breaker.move_pct:
                prices.setdefault(ctx.mid, []).append(ev.price_ticks)
                contexts[ctx.mid] = ctx
        now = time.time()
        for mid, ticks in prices.items():
            ctx = contexts[mid]
            observed = self.breakers.observe(mid, ctx.breaker, ticks, now)
            if observed is None:
                continue
            from orders.markets import market_breaker_trip

            observed["low"] = f"{ctx.tick * int(str(observed['low_ticks'])):f}"
            observed["high"] = f"{ctx.tick * int(str(observed['high_ticks'])):f}"
            try:
                market_breaker_trip(market_id=mid, observed=observed)
            except (DatabaseError, redis.RedisError) as exc:
                log.error("matcher.breaker_trip_failed", market_id=mid, error=str(exc))
                connection.close()

    # ------------------------------------------------------------------ housekeeping

    def _housekeeping(self) -> None:
        """About once a second: book gauges, a lost depth store rebuilt, streams trimmed."""
        now = time.monotonic()
        if now - self._gauges_at > 1.0:
            self._gauges_at = now
            pipe = self.redis.pipeline(transaction=False)
            ctxs = list(self.markets.values())
            for ctx in ctxs:
                bids, asks = ctx.book.depth()
                BOOK_LEVELS.labels(ctx.market.symbol, "bid").set(len(bids))
                BOOK_LEVELS.labels(ctx.market.symbol, "ask").set(len(asks))
                pipe.exists(f"depth:{ctx.market.symbol}:u")
            for ctx, exists in zip(ctxs, pipe.execute(), strict=True):
                if not exists or ctx.full_depth:
                    # The published book is gone (a Redis loss that kept the stream): rebuild.
                    self._depth_full(ctx)
        if now - self._trimmed_at >= self.trim_every_s:
            self._trimmed_at = now
            self.streams_trim()
        self._heartbeat("primary")

    def _heartbeat(self, role: str) -> None:
        """About once a second: this matcher's health in Redis (exchange_site.health)."""
        now = time.monotonic()
        if now - self._heartbeat_at < 1.0:
            return
        self._heartbeat_at = now
        from exchange_site.health import heartbeat_write

        heartbeat_write(
            "matcher",
            self.consumer,
            {
                "shard": self.shard, "role": role, "fence": self.fence,
                "markets": sorted(ctx.market.symbol for ctx in self.markets.values()),
                "last_batch_at": self._last_batch_at, "stream_lag_s": round(self._stream_lag_s, 3),
            },
        )  # fmt: skip

    def streams_trim(self) -> None:
        """Trim each stream below what is committed and older than the retention."""
        horizon_ms = int(time.time() * 1000 - self.stream_retain_s * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for key, ctx in self.markets.items():
            if ctx.last_id == (0, 0):
                continue
            minid = min(ctx.last_id, (horizon_ms, 0))
            # MINID keeps entries >= minid: everything trimmed is at or below the committed id.
            pipe.xtrim(key, minid=f"{minid[0]}-{minid[1]}", approximate=False)
        pipe.execute()


def _units_match(
    ctx: _MarketCtx,
    place: PlaceOrder,
    row: tuple[Decimal | None, Decimal | None, Decimal | None],
) -> bool:
    """Whether a place command's integers express its row's price, quantity and stop in the
    market's current tick and step."""
    price, qty, stop = row
    if price is not None and price != ctx.tick * place.price_ticks:
        return False
    if stop is not None and stop != ctx.tick * place.stop_price_ticks:
        return False
    return qty is None or not place.qty_lots or qty == ctx.step * place.qty_lots


def _reject(batch: _Batch, ctx: _MarketCtx, order_id: int, reason: str) -> None:
    d = batch.delta(order_id)
    d.status = _REJECTED
    d.reject_reason = reason
    d.done_seq = ctx.book.last_seq  # below every later event of the market: released in order
    d.is_working = False
    batch.settle.add(ctx.mid)
    batch.touched.setdefault(ctx.mid, ctx)
    batch.rejects.append((ctx.mid, order_id, d.done_seq))
