"""The matcher: the adapter between the command streams, the engine and PostgreSQL.

One process per market shard, single-threaded. Per batch (DESIGN.md, "The order path", step 2):
read commands from the markets' Redis streams, apply them to the in-memory books in stream order,
then in ONE PostgreSQL transaction insert the trades, update the orders and store each market's
last applied stream id, sequence, book update id and the fencing token; after the commit,
acknowledge the entries, wake the waiting requests, publish the book and enqueue settlement.

Recovery: the open orders in PostgreSQL, sorted by priority, are the book. A (re)started matcher
restores each book from them and re-reads its pending stream entries, skipping those at or below
the stored stream id. A failed commit rebuilds the affected books from PostgreSQL and re-reads
the still pending entries; the engine is deterministic, so the result is the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import redis
import structlog
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram
from redis.typing import KeyT, StreamIdT

from clearing.models import Hold
from exchange_site.money import quantize_up
from marketdata.depthstore import depth_write
from matching.engine import (
    BookSnapshot,
    CancelOrder,
    CancelReplace,
    DoneReason,
    MarketState,
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
from matching.models import MarketEngineState
from matching.stream import (
    GROUP,
    ApplyFees,
    ReloadMarket,
    StreamCommand,
    entry_decode,
    stream_key,
)
from orders.breaker import BreakerConfig, BreakerWatch
from orders.models import Market, MarketFeeChange, Order, Trade
from orders.selectors import market_normalize
from orders.services import order_engine_fields
from orders.verdicts import verdicts_publish

log = structlog.get_logger(__name__)

COMMANDS = Counter("exchange_matcher_commands_total", "Commands applied", ["market"])
BATCH_SIZE = Histogram(
    "exchange_matcher_batch_size",
    "Commands per batch",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000),
)
MATCH_LATENCY = Histogram(
    "exchange_matcher_match_seconds",
    "Engine time per command",
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

_DONE_STATUS = {
    DoneReason.FILLED: Order.Status.FILLED,
    DoneReason.CANCELED: Order.Status.CANCELED,
    DoneReason.EXPIRED: Order.Status.EXPIRED,
    DoneReason.EXPIRED_IN_MATCH: Order.Status.EXPIRED_IN_MATCH,
}
_ENGINE_STATE = {
    Market.Status.TRADING: MarketState.TRADING,
    Market.Status.CANCEL_ONLY: MarketState.CANCEL_ONLY,
    Market.Status.HALT: MarketState.HALT,
}
_WORKING = (Order.Status.NEW, Order.Status.PARTIALLY_FILLED)


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
    done: bool = False
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
    rids: set[str] = field(default_factory=set)
    last_ids: dict[int, str] = field(default_factory=dict)  # market id -> last applied entry
    first_ms: dict[int, int] = field(default_factory=dict)  # market id -> oldest entry time
    touched: dict[int, _MarketCtx] = field(default_factory=dict)
    settle: set[int] = field(default_factory=set)  # markets with trades or finished orders
    order_ctx: dict[int, _MarketCtx] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)  # market id -> commands applied
    commands: int = 0
    # Fee changes met in the stream: (change id, market id, maker, taker, seq before them).
    fees_applied: list[tuple[int, int, Decimal, Decimal, int]] = field(default_factory=list)
    reload: set[int] = field(default_factory=set)  # markets to re-read after the commit

    def delta(self, order_id: int, ctx: _MarketCtx) -> _OrderDelta:
        d = self.deltas.get(order_id)
        if d is None:
            d = self.deltas[order_id] = _OrderDelta()
            self.order_ctx[order_id] = ctx
        return d


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
    ) -> None:
        self.shard = shard
        self.symbols = symbols
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.lease_ttl_ms = lease_ttl_ms
        self.metrics_port = metrics_port
        self.consumer = f"matcher-{shard}"
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.fence = 0
        self.stopping = False
        self.markets: dict[str, _MarketCtx] = {}  # by stream key
        self.redis: redis.Redis
        self._lease_renewed = 0.0
        self._gauges_at = 0.0
        # Entries delivered to this consumer name but never acked (read by a matcher that then
        # died or was deposed) are re-read this often; already applied ones are only acked.
        self.pending_rescan_s = 5.0
        self._rescanned_at = time.monotonic()
        # Markets created, moved in or out, or renamed while running are noticed this often.
        self.discover_s = 1.0
        self._discovered_at = time.monotonic()
        self.breakers = BreakerWatch()

    # ------------------------------------------------------------------ lifecycle

    def setup(self) -> None:
        from exchange_site.redis import get_redis

        self.redis = get_redis()
        if self.metrics_port:
            try:
                from prometheus_client import start_http_server

                start_http_server(self.metrics_port)
            except OSError as exc:
                log.warning("matcher.metrics_port_busy", port=self.metrics_port, error=str(exc))
        self._acquire_lease()
        self._load_all()

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        try:
            while not self.stopping:
                try:
                    self.run_once()
                except Deposed:
                    # Another matcher committed with a newer token: our books are stale. Wait
                    # as a standby again, then rebuild from PostgreSQL.
                    log.error("matcher.deposed", shard=self.shard, fence=self.fence)
                    self._acquire_lease()
                    self._load_all()
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
        return batch.commands

    # ------------------------------------------------------------------ lease and fencing

    def _lease_key(self) -> str:
        return f"matcher:lease:{self.shard}"

    def _acquire_lease(self) -> None:
        """Wait as a standby until the shard's lease is ours; then take a new fencing token."""
        waited = False
        while not self.redis.set(self._lease_key(), self.token, nx=True, px=self.lease_ttl_ms):
            if self.stopping:
                raise SystemExit(0)
            if not waited:
                log.info("matcher.standby", shard=self.shard)
                waited = True
            time.sleep(self.lease_ttl_ms / 5000)
        # The token must exceed every token ever committed, also after Redis lost its counter.
        stored = (
            MarketEngineState.objects.order_by("-fence").values_list("fence", flat=True).first()
            or 0
        )
        fence = int(self.redis.incr(f"matcher:fence:{self.shard}"))
        if fence <= stored:
            fence = stored + 1
            self.redis.set(f"matcher:fence:{self.shard}", fence)
        self.fence = fence
        self._lease_renewed = time.monotonic()
        log.info("matcher.primary", shard=self.shard, fence=fence)

    _RENEW = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
    )

    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

    def _renew_lease(self) -> None:
        now = time.monotonic()
        if now - self._lease_renewed < self.lease_ttl_ms / 5000:
            return
        # Lost it (expired while we stalled)? Our commits are fenced anyway: take it back if it
        # is free, else stand down.
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

    def _load_all(self) -> None:
        qs = Market.objects.select_related("base", "quote").order_by("id")
        qs = qs.filter(symbol__in=self.symbols) if self.symbols else qs.filter(shard=self.shard)
        self.markets = {}
        for market in qs:
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
            self.markets.pop(stream_key(ctx.market.symbol), None)
            market = Market.objects.select_related("base", "quote").filter(pk=ctx.market.pk).first()
            if market is None or not self._owns(market):
                log.info("matcher.market_dropped", shard=self.shard, market_id=ctx.market.pk)
                self.breakers.windows.pop(ctx.market.pk, None)
                continue
            self.markets[stream_key(market.symbol)] = self._load(market)

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
                for market in qs.select_related("base", "quote").filter(pk__in=new).order_by("id"):
                    self.markets[stream_key(market.symbol)] = self._load(market)
                log.info("matcher.markets_added", shard=self.shard, market_ids=new)
        except (DatabaseError, redis.RedisError) as exc:
            log.warning("matcher.discover_failed", error=str(exc))
            connection.close()

    def _load(self, market: Market) -> _MarketCtx:
        """Restore the market's book from its open orders in PostgreSQL."""
        market = market_normalize(market)
        state, _ = MarketEngineState.objects.get_or_create(
            market=market, defaults={"shard": market.shard}
        )
        tick, step = market.tick_size, market.step_size
        unit = tick * step
        rows = list(
            Order.objects.filter(market=market, status__in=_WORKING).order_by("priority_seq", "id")
        )
        holds = dict(
            Hold.objects.filter(order_id__in=[o.id for o in rows]).values_list(
                "order_id", "original_amount"
            )
        )
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
        key = stream_key(market.symbol)
        self._ensure_group(key)
        self._claim(key)
        bids, asks = book.depth()
        depth_write(
            self.redis, symbol=market.symbol, update_id=book.update_id, bids=dict(bids),
            asks=dict(asks), full=True, last_price_ticks=state.last_trade_price_ticks,
        )  # fmt: skip
        return _MarketCtx(
            market, book, state.last_stream_id, "0", tick, step, unit, shard=state.shard,
            fees=(market.maker_fee, market.taker_fee),
            breaker=BreakerConfig(market.breaker_move_pct, market.breaker_window_s),
        )  # fmt: skip

    def _claim(self, key: str) -> None:
        """Take over the stream's entries pending for another consumer: a market moved from
        another shard may have entries its old matcher read but never committed (its commit
        was refused). Entries at or below the stored stream id are only acked, as always."""
        start: str | bytes = "0-0"
        for _ in range(100):
            # (JUSTID would be lighter, but redis-py then drops the cursor from the reply.)
            resp = self.redis.xautoclaim(
                key, GROUP, self.consumer, min_idle_time=0, start_id=start, count=1000
            )
            start = resp[0]
            if start in (b"0-0", "0-0"):
                return

    def _ensure_group(self, key: str) -> None:
        try:
            self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    # ------------------------------------------------------------------ read and apply

    def _read(self) -> list[tuple[_MarketCtx, list[tuple[str, dict[bytes, bytes]]]]]:
        if time.monotonic() - self._rescanned_at >= self.pending_rescan_s:
            self._rescanned_at = time.monotonic()
            for key, ctx in self.markets.items():
                self._claim(key)
                ctx.read_id = "0"
        streams: dict[KeyT, StreamIdT] = {key: ctx.read_id for key, ctx in self.markets.items()}
        if not streams:
            time.sleep(self.block_ms / 1000)
            return []
        pending_round = any(v == "0" for v in streams.values())
        try:
            resp = self.redis.xreadgroup(
                GROUP, self.consumer, streams, count=self.batch_size,
                block=None if pending_round else self.block_ms,
            )  # fmt: skip
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream (or its group) is gone: Redis was flushed or restarted. Rebuild from
            # PostgreSQL (the books are as committed; the trading state is the markets' current
            # one, in case a state command was lost; the depth store is rewritten), recreate the
            # groups and carry on; the sweep re-enqueues the orders and cancels that were lost.
            log.warning("matcher.stream_recreated", error=str(exc))
            self._reload(list(self.markets.values()))
            return []
        # RESP2 (this client's protocol): [[stream key, [(entry id, fields), ...]], ...]
        streams_read = cast(
            "list[tuple[bytes | str, list[tuple[bytes | str, dict[bytes, bytes]]]]]", resp or []
        )
        result: list[tuple[_MarketCtx, list[tuple[str, dict[bytes, bytes]]]]] = []
        seen: set[str] = set()
        for raw_key, entries in streams_read:
            key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
            ctx = self.markets[key]
            seen.add(key)
            decoded = [(eid.decode() if isinstance(eid, bytes) else eid, f) for eid, f in entries]
            if ctx.read_id == "0" and not decoded:
                ctx.read_id = ">"
            if decoded:
                result.append((ctx, decoded))
        for key, ctx in self.markets.items():
            if ctx.read_id == "0" and key not in seen:
                ctx.read_id = ">"
        return result

    def _apply(
        self, entries: list[tuple[_MarketCtx, list[tuple[str, dict[bytes, bytes]]]]]
    ) -> _Batch:
        batch = _Batch()
        decoded: list[tuple[_MarketCtx, str, StreamCommand | None, str | None]] = []
        place_ids: list[int] = []
        cmd: StreamCommand | None
        for ctx, items in entries:
            for entry_id, fields in items:
                batch.acks.setdefault(stream_key(ctx.market.symbol), []).append(entry_id)
                if stream_id_tuple(entry_id) <= stream_id_tuple(ctx.last_stream_id):
                    continue  # applied and committed before a crash; only the ack was lost
                try:
                    cmd, rid = entry_decode(fields[b"c"])
                except (KeyError, ValueError, IndexError, TypeError):
                    log.error("matcher.bad_entry", stream=ctx.market.symbol, id=entry_id)
                    decoded.append((ctx, entry_id, None, None))
                    continue
                place = cmd.place if isinstance(cmd, CancelReplace) else cmd
                if isinstance(place, PlaceOrder):
                    place_ids.append(place.order_id)
                decoded.append((ctx, entry_id, cmd, rid))
                if isinstance(cmd, ReloadMarket):
                    break  # re-read after the commit; its later entries are read again then
        # A place applies once: only orders still PENDING_NEW in PostgreSQL (a re-enqueued
        # duplicate of an applied order is dropped here, not rejected by the engine).
        pending: dict[int, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}
        if place_ids:
            still_new = Order.objects.filter(pk__in=place_ids, status=Order.Status.PENDING_NEW)
            pending = {
                pk: (price, qty, stop)
                for pk, price, qty, stop in still_new.values_list(
                    "pk", "price", "quantity", "stop_price"
                )
            }

        clock = time.perf_counter
        for ctx, entry_id, cmd, rid in decoded:
            mid = ctx.market.pk
            batch.touched[mid] = ctx
            batch.last_ids[mid] = entry_id
            batch.first_ms.setdefault(mid, stream_id_tuple(entry_id)[0])
            if rid:
                batch.rids.add(rid)
            if cmd is None:
                continue
            if isinstance(cmd, ApplyFees | ReloadMarket):
                self._apply_config(batch, ctx, cmd)
                continue
            place = cmd.place if isinstance(cmd, CancelReplace) else cmd
            if isinstance(place, PlaceOrder):
                row = pending.pop(place.order_id, None)
                if row is None:
                    continue
                if not _units_match(ctx, place, row):
                    # Priced in another tick/step than the market's now (accepted against the
                    # configuration before a change): never matched.
                    _reject(batch, ctx, place.order_id, "MARKET_CONFIG_CHANGED")
                    if not isinstance(cmd, CancelReplace):
                        continue
                    cmd = CancelOrder(cmd.cancel_order_id, cmd.owner_id)
            t0 = clock()
            events = ctx.book.apply(cmd)
            MATCH_LATENCY.observe(clock() - t0)
            batch.commands += 1
            batch.counts[mid] = batch.counts.get(mid, 0) + 1
            self._collect(batch, ctx, events)
        return batch

    def _collect(self, batch: _Batch, ctx: _MarketCtx, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, TradeExecuted):
                batch.trades.append((ctx, ev, ctx.fees))
                batch.settle.add(ctx.market.pk)
                quote = ev.price_ticks * ev.qty_lots
                for oid in (ev.maker_order_id, ev.taker_order_id):
                    d = batch.delta(oid, ctx)
                    d.exec_lots += ev.qty_lots
                    d.quote_units += quote
                    if not d.done:
                        d.status = Order.Status.PARTIALLY_FILLED
            elif isinstance(ev, OrderAccepted):
                d = batch.delta(ev.order_id, ctx)
                d.status = Order.Status.NEW
                d.accepted_seq = d.priority_seq = ev.seq
                d.is_working = ev.resting
                d.set_working_at = ev.resting
            elif isinstance(ev, OrderDone):
                d = batch.delta(ev.order_id, ctx)
                d.status = _DONE_STATUS[ev.reason]
                d.done = True
                d.is_working = False
                batch.settle.add(ctx.market.pk)
            elif isinstance(ev, OrderRejected):
                d = batch.delta(ev.order_id, ctx)
                d.status = Order.Status.REJECTED
                d.reject_reason = ev.reason.name
                d.done = True
                d.is_working = False
                batch.settle.add(ctx.market.pk)
            elif isinstance(ev, OrderAmended):
                d = batch.delta(ev.order_id, ctx)
                d.new_qty_lots = ev.new_qty_lots
                d.new_price_ticks = ev.new_price_ticks
                if not ev.priority_kept:
                    d.priority_seq = ev.seq
            elif isinstance(ev, StopTriggered):
                d = batch.delta(ev.order_id, ctx)
                d.priority_seq = ev.seq
                d.is_working = True
                d.set_working_at = True
            # CancelRejected / AmendRejected / MarketStateChanged change no row: the order's
            # state already says why (finished), and the market status is the operator's.

    def _apply_config(self, batch: _Batch, ctx: _MarketCtx, cmd: ApplyFees | ReloadMarket) -> None:
        """The matcher's own stream commands (orders.markets), applied in stream order."""
        mid = ctx.market.pk
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

    def _commit(self, batch: _Batch) -> None:
        now = timezone.now()
        with transaction.atomic(durable=True), connection.cursor() as cur:
            for mid, ctx in batch.touched.items():
                cur.execute(
                    "UPDATE matching_marketenginestate SET last_stream_id = %s, last_seq = %s,"
                    " update_id = %s, last_trade_price_ticks = %s, fence = %s, updated_at = %s"
                    " WHERE market_id = %s AND fence <= %s AND shard = %s",
                    [batch.last_ids[mid], ctx.book.last_seq, ctx.book.update_id,
                     ctx.book.last_trade_price_ticks, self.fence, now, mid, self.fence,
                     ctx.shard],
                )  # fmt: skip
                if cur.rowcount != 1:
                    cur.execute(
                        "SELECT shard FROM matching_marketenginestate WHERE market_id = %s", [mid]
                    )
                    row = cur.fetchone()
                    if row is not None and row[0] != ctx.shard:
                        raise MarketMoved(mid)
                    raise Deposed(f"market {mid}: a newer fencing token committed")
            if batch.fees_applied:
                self._commit_fees(batch, now)
            if batch.trades:
                self._insert_trades(batch, now)
            if batch.deltas:
                self._update_orders(cur, batch, now)
        for mid, ctx in batch.touched.items():
            ctx.last_stream_id = batch.last_ids[mid]

    def _insert_trades(self, batch: _Batch, now: Any) -> None:
        rows = []
        for ctx, ev, (maker_rate, taker_rate) in batch.trades:
            m = ctx.market
            price = ctx.tick * ev.price_ticks
            qty = ctx.step * ev.qty_lots
            quote = ctx.quote_unit * (ev.price_ticks * ev.qty_lots)
            taker_buys = ev.taker_side == Side.BUY
            buyer_rate = taker_rate if taker_buys else maker_rate
            seller_rate = maker_rate if taker_buys else taker_rate
            rows.append(
                Trade(
                    market_id=m.pk,
                    seq=ev.seq,
                    maker_order_id=ev.maker_order_id,
                    taker_order_id=ev.taker_order_id,
                    buyer_id=ev.taker_owner_id if taker_buys else ev.maker_owner_id,
                    seller_id=ev.maker_owner_id if taker_buys else ev.taker_owner_id,
                    price=price,
                    qty=qty,
                    quote_qty=quote,
                    is_buyer_maker=not taker_buys,
                    # Fees are charged in the asset received, rounded up (charges round up).
                    buyer_fee=quantize_up(qty * buyer_rate, m.base.precision),
                    seller_fee=quantize_up(quote * seller_rate, m.quote.precision),
                    created_at=now,
                )
            )
        Trade.objects.bulk_create(rows)

    def _update_orders(self, cur: Any, batch: _Batch, now: Any) -> None:
        values: list[Any] = []
        rows = []
        for oid, d in sorted(batch.deltas.items()):
            ctx = batch.order_ctx[oid]
            rows.append("(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)")
            values += [
                oid, d.status, ctx.step * d.exec_lots, ctx.quote_unit * d.quote_units,
                d.accepted_seq, d.priority_seq, d.is_working, d.set_working_at, d.done,
                d.reject_reason,
                None if d.new_qty_lots is None else ctx.step * d.new_qty_lots,
                None if not d.new_price_ticks else ctx.tick * d.new_price_ticks,
            ]  # fmt: skip
        sql = (
            "UPDATE orders_order o SET"
            " status = COALESCE(v.status, o.status),"
            " executed_qty = o.executed_qty + v.dexec,"
            " cumulative_quote_qty = o.cumulative_quote_qty + v.dquote,"
            " accepted_seq = COALESCE(v.accepted_seq, o.accepted_seq),"
            " priority_seq = COALESCE(v.priority_seq, o.priority_seq),"
            " is_working = COALESCE(v.is_working, o.is_working),"
            " working_at = CASE WHEN v.set_working THEN COALESCE(o.working_at, %s)"
            "   ELSE o.working_at END,"
            " done_at = CASE WHEN v.done THEN %s ELSE o.done_at END,"
            " reject_reason = COALESCE(v.reject_reason, o.reject_reason),"
            " quantity = COALESCE(v.new_qty, o.quantity),"
            " price = COALESCE(v.new_price, o.price),"
            " updated_at = %s"
            " FROM (VALUES " + ",".join(rows) + ") AS v(id, status, dexec, dquote, accepted_seq,"
            " priority_seq, is_working, set_working, done, reject_reason, new_qty, new_price)"
            " WHERE o.id = v.id"
        )
        # VALUES columns need explicit types where the first row may hold NULLs.
        sql = sql.replace(
            "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            "(%s::bigint,%s::varchar,%s::numeric,%s::numeric,%s::bigint,%s::bigint,%s::boolean,"
            "%s::boolean,%s::boolean,%s::varchar,%s::numeric,%s::numeric)",
        )
        cur.execute(sql, [now, now, now, *values])

    # ------------------------------------------------------------------ after commit

    def _after_commit(self, batch: _Batch) -> None:
        now_ms = time.time() * 1000
        pipe = self.redis.pipeline(transaction=False)
        for key, ids in batch.acks.items():
            pipe.xack(key, GROUP, *ids)
        verdicts_publish(pipe, batch.rids)
        pipe.execute()
        for mid, ctx in batch.touched.items():
            symbol = ctx.market.symbol
            changes = ctx.book.take_depth_changes()
            if changes is not None:
                depth_write(
                    self.redis, symbol=symbol, update_id=changes.last_update_id,
                    bids=changes.bids, asks=changes.asks,
                    last_price_ticks=ctx.book.last_trade_price_ticks,
                )  # fmt: skip
                self.redis.publish(
                    f"md:{symbol}",
                    json.dumps({
                        "e": "depth", "U": changes.first_update_id, "u": changes.last_update_id,
                        "b": list(changes.bids.items()), "a": list(changes.asks.items()),
                    }),
                )  # fmt: skip
            first_ms = batch.first_ms[mid]
            STREAM_TO_COMMIT.observe(max(0.0, (now_ms - first_ms) / 1000))
            STREAM_LAG.labels(symbol).set(
                max(0.0, (now_ms - stream_id_tuple(batch.last_ids[mid])[0]) / 1000)
            )
            COMMANDS.labels(symbol).inc(batch.counts.get(mid, 0))
        BATCH_SIZE.observe(batch.commands)
        if time.monotonic() - self._gauges_at > 1.0:
            self._gauges_at = time.monotonic()
            for ctx in self.markets.values():
                bids, asks = ctx.book.depth()
                BOOK_LEVELS.labels(ctx.market.symbol, "bid").set(len(bids))
                BOOK_LEVELS.labels(ctx.market.symbol, "ask").set(len(asks))
        if batch.settle:
            from clearing.tasks import settle_market_enqueue

            for mid in batch.settle:
                settle_market_enqueue(mid)
        if batch.trades:
            self._observe_prices(batch)
        if batch.reload:
            self._reload([batch.touched[mid] for mid in batch.reload])

    def _observe_prices(self, batch: _Batch) -> None:
        """The circuit breaker's input (orders.breaker): this batch's trade prices per market."""
        prices: dict[int, list[int]] = {}
        contexts: dict[int, _MarketCtx] = {}
        for ctx, ev, _ in batch.trades:
            if ctx.breaker.move_pct:
                prices.setdefault(ctx.market.pk, []).append(ev.price_ticks)
                contexts[ctx.market.pk] = ctx
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
    d = batch.delta(order_id, ctx)
    d.status = Order.Status.REJECTED
    d.reject_reason = reason
    d.done = True
    d.is_working = False
    batch.settle.add(ctx.market.pk)
