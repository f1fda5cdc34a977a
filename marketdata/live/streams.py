"""The Binance market streams (contract 7.2) as hub feeds.

One `MarketFeed` per market and web process reads the market's channel (marketdata.feedbus):
the matcher publishes one message per committed batch (depth diff with its update ids, trades,
commit time), the candle roll-up publishes the candles it changed. The feed renders each event
once and hands the same frame to every subscriber:

- `<s>@depth` / `<s>@depth@100ms`: diffs merged over 1000 / 100 ms windows. `U`/`u` are the
  engine's update ids; a diff that does not start at the previous `u + 1` (a batch committed
  but never published, a matcher that rebuilt the depth store) closes the depth subscribers,
  who resynchronise with a fresh snapshot, instead of feeding them a hole.
- `<s>@depthN[@100ms]`: the top N levels read from the depth store once per window in which the
  book changed (the store is written before the diff is published).
- `<s>@trade`, `<s>@aggTrade` (one aggregate per trade): sent as they arrive.
- `<s>@ticker`, `<s>@miniTicker`, `!ticker@arr`, `!miniTicker@arr`: rolling 24 h statistics,
  recomputed at most once a second while there are subscribers and something changed (and every
  30 s as the window slides); a new subscriber gets the current state at once.
- `<s>@kline_<i>`: the candles the roll-up publishes; a new subscriber gets the open candle.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import structlog

from exchange_site.binance.db import db_call
from exchange_site.binance.render import Amounts
from exchange_site.binance.times import now_ms
from exchange_site.money import fmt
from marketdata import selectors
from marketdata.depthstore import depth_read
from marketdata.feedbus import channel_name, market_channel
from orders.models import Market

from .hub import CLOSE_SLOW, Frame, Hub, StreamSpec, Subscriber
from .metrics import GAPS

log = structlog.get_logger(__name__)

DAY_MS = 86_400_000
TICKER_EVERY_S = 1.0
TICKER_REFRESH_S = 30.0
PARTIAL_LEVELS = (5, 10, 20)


# Markets -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarketInfo:
    id: int
    symbol: str
    tick: Decimal
    step: Decimal
    amounts: Amounts

    def price(self, ticks: int) -> str:
        return self.amounts.price(self.tick * ticks)

    def qty(self, lots: int) -> str:
        return self.amounts.qty(self.step * lots)


def _market_infos() -> dict[str, MarketInfo]:
    return {
        m.symbol: MarketInfo(
            m.pk, m.symbol, m.tick_size, m.step_size, Amounts(m.base.precision, m.quote.precision)
        )
        for m in Market.objects.select_related("base", "quote")
    }


class MarketDirectory:
    """Symbol -> market, cached per process; re-read (at most every 2 s) on an unknown name.
    Concurrent lookups share one read."""

    def __init__(self) -> None:
        self._markets: dict[str, MarketInfo] = {}
        self._read_at = -1e9
        self._reading: asyncio.Future[None] | None = None

    async def get(self, symbol: str) -> MarketInfo | None:
        if symbol not in self._markets:
            if self._reading is not None:
                await asyncio.shield(self._reading)
            elif time.monotonic() - self._read_at > 2.0:
                await self.refresh()
        return self._markets.get(symbol)

    async def all(self) -> list[MarketInfo]:
        if time.monotonic() - self._read_at > 10.0:
            await self.refresh()
        return list(self._markets.values())

    async def refresh(self) -> None:
        if self._reading is not None:
            await asyncio.shield(self._reading)
            return
        self._reading = asyncio.get_running_loop().create_future()
        try:
            self._markets = await db_call(_market_infos)
            self._read_at = time.monotonic()
        finally:
            self._reading.set_result(None)
            self._reading = None


# Stream names ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamName:
    symbol: str  # upper case
    kind: str  # depth, partial, trade, aggTrade, ticker, miniTicker, kline
    window_ms: int = 0  # depth windows
    levels: int = 0  # partial depth
    interval: str = ""  # klines


def stream_parse(name: str) -> StreamName | None:
    """The market stream a name denotes (symbol not checked), or None."""
    parts = name.split("@")
    if len(parts) not in (2, 3) or not parts[0] or parts[0] != parts[0].lower():
        return None
    symbol, kind = parts[0].upper(), parts[1]
    speed = parts[2] if len(parts) == 3 else None
    # "@0ms" is python-binance's spelling of the fastest diff stream.
    window = {None: 1000, "1000ms": 1000, "100ms": 100, "0ms": 100}.get(speed, 0)
    if kind == "depth" and window:
        return StreamName(symbol, "depth", window_ms=window)
    if kind.startswith("depth") and kind[5:] in ("5", "10", "20") and window:
        return StreamName(symbol, "partial", window_ms=window, levels=int(kind[5:]))
    if speed is not None:
        return None
    if kind in ("trade", "aggTrade", "ticker", "miniTicker"):
        return StreamName(symbol, kind)
    if kind.startswith("kline_") and kind[6:] in selectors.KLINE_INTERVALS:
        return StreamName(symbol, "kline", interval=kind[6:])
    return None


ALL_TICKERS = ("!ticker@arr", "!miniTicker@arr", "!miniTicker@arr@1000ms")
# Suffixes naming the 1000 ms and the 100 ms diff windows ("@0ms": python-binance's fastest).
_SPEEDS = {1000: ("", "@1000ms"), 100: ("@100ms", "@0ms")}


# Rendering ---------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def ticker_events(
    info: MarketInfo, row: dict[str, Any], event_ms: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(@ticker event, @miniTicker event) from a /ticker/24hr row (render.ticker_24h)."""
    full = {
        "e": "24hrTicker", "E": event_ms, "s": info.symbol,
        "p": row["priceChange"], "P": row["priceChangePercent"], "w": row["weightedAvgPrice"],
        "x": row["prevClosePrice"], "c": row["lastPrice"], "Q": row["lastQty"],
        "b": row["bidPrice"], "B": row["bidQty"], "a": row["askPrice"], "A": row["askQty"],
        "o": row["openPrice"], "h": row["highPrice"], "l": row["lowPrice"], "v": row["volume"],
        "q": row["quoteVolume"], "O": row["openTime"], "C": row["closeTime"],
        "F": row["firstId"], "L": row["lastId"], "n": row["count"],
    }  # fmt: skip
    mini = {
        "e": "24hrMiniTicker", "E": event_ms, "s": info.symbol, "c": row["lastPrice"],
        "o": row["openPrice"], "h": row["highPrice"], "l": row["lowPrice"], "v": row["volume"],
        "q": row["quoteVolume"],
    }  # fmt: skip
    return full, mini


def _ticker_rows(infos: list[MarketInfo]) -> dict[str, dict[str, Any]]:
    """The /ticker/24hr rows of these markets now (three queries and the depth tops)."""
    from marketdata.apis import render

    close_ms = now_ms()
    open_ms = close_ms - DAY_MS
    ids = [i.id for i in infos]
    stats = selectors.stats_list(market_ids=ids, start_ms=open_ms, end_ms=close_ms)
    tops = selectors.book_top_list(symbols=[i.symbol for i in infos])
    markets = {m.pk: m for m in Market.objects.select_related("base", "quote").filter(pk__in=ids)}
    return {
        i.symbol: render.ticker_24h(
            markets[i.id], (stats, tops), open_ms=open_ms, close_ms=close_ms, mini=False
        )
        for i in infos
        if i.id in markets
    }


def kline_event(info: MarketInfo, k: dict[str, Any], event_ms: int) -> dict[str, Any]:
    return {"e": "kline", "E": event_ms, "s": info.symbol, "k": {**k, "s": info.symbol}}


def _kline_current(info: MarketInfo, interval: str) -> dict[str, Any] | None:
    return selectors.candle_current(market_id=info.id, interval=interval, now_ms=now_ms())


# Feeds -------------------------------------------------------------------------------------


class _DepthWindow:
    """Diffs merged over one window: [U, u] and the last quantity of each changed level."""

    __slots__ = ("asks", "bids", "first", "handle", "last", "origin")

    def __init__(self) -> None:
        self.first = 0
        self.last = 0
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.origin: float | None = None
        self.handle: asyncio.TimerHandle | None = None


class MarketFeed:
    """Everything about one market, from its channel (see the module docstring)."""

    def __init__(self, hub: Hub, channel: str, info: MarketInfo) -> None:
        self.hub = hub
        self.channel = channel
        self.info = info
        self.lower = info.symbol.lower()
        self.last_u: int | None = None
        self.windows: dict[int, _DepthWindow] = {}  # window ms -> pending diff
        self.partial_due: dict[int, asyncio.TimerHandle] = {}  # window ms -> pending read
        self.ticker_dirty = True
        self.ticker_at = 0.0
        self.ticker_task: asyncio.Task[None] | None = None
        self.ticker_last: tuple[dict[str, Any], dict[str, Any]] | None = None

    async def start(self) -> None:
        return None

    def stop(self) -> None:
        for window in self.windows.values():
            if window.handle is not None:
                window.handle.cancel()
        for handle in self.partial_due.values():
            handle.cancel()
        if self.ticker_task is not None:
            self.ticker_task.cancel()

    # -- incoming

    def on_message(self, data: bytes) -> None:
        msg = orjson.loads(data)
        origin = msg.get("c")
        if "U" in msg:
            self._depth(msg, origin)
        trades = msg.get("t")
        if trades:
            self._trades(trades, msg.get("T") or now_ms(), origin)
        klines = msg.get("k")
        if klines:
            self._klines(klines, origin)

    def _depth(self, msg: dict[str, Any], origin: float | None) -> None:
        first, last = msg["U"], msg["u"]
        if self.last_u is not None and first != self.last_u + 1:
            self._resync()
        self.last_u = last
        self.ticker_dirty = True
        loop = asyncio.get_running_loop()
        for window_ms in (1000, 100):
            if not self._wanted(self._depth_names(window_ms)):
                continue
            w = self.windows.get(window_ms)
            if w is None:
                w = self.windows[window_ms] = _DepthWindow()
            if w.handle is None:
                w.first, w.origin = first, origin
                w.handle = loop.call_later(window_ms / 1000, self._flush_depth, window_ms)
            w.last = last
            w.bids.update(msg["b"])
            w.asks.update(msg["a"])
        for window_ms in (1000, 100):
            if window_ms in self.partial_due:
                continue
            if any(self._wanted(self._partial_names(n, window_ms)) for n in PARTIAL_LEVELS):
                self.partial_due[window_ms] = loop.call_later(
                    window_ms / 1000, self._partial_start, window_ms, origin
                )

    def _depth_names(self, window_ms: int) -> tuple[str, ...]:
        """The names of one diff stream (clients spell the speeds differently)."""
        return tuple(f"{self.lower}@depth{suffix}" for suffix in _SPEEDS[window_ms])

    def _partial_names(self, levels: int, window_ms: int) -> tuple[str, ...]:
        return tuple(f"{self.lower}@depth{levels}{suffix}" for suffix in _SPEEDS[window_ms])

    def _wanted(self, names: tuple[str, ...]) -> bool:
        return any(self.hub.subscribers(n) for n in names)

    def _resync(self) -> None:
        """An update id gap: nobody may apply the next diff; close the diff subscribers."""
        GAPS.inc()
        for window_ms in (1000, 100):
            w = self.windows.pop(window_ms, None)
            if w is not None and w.handle is not None:
                w.handle.cancel()
            for name in self._depth_names(window_ms):
                self.hub.close_stream(name, CLOSE_SLOW)

    def _flush_depth(self, window_ms: int) -> None:
        w = self.windows.pop(window_ms, None)
        if w is None:
            return
        info = self.info
        event = {
            "e": "depthUpdate", "E": now_ms(), "s": info.symbol, "U": w.first, "u": w.last,
            "b": [[info.price(p), info.qty(q)] for p, q in sorted(w.bids.items(), reverse=True)],
            "a": [[info.price(p), info.qty(q)] for p, q in sorted(w.asks.items())],
        }  # fmt: skip
        raw = _dumps(event)
        for name in self._depth_names(window_ms):
            if self.hub.subscribers(name):
                self.hub.publish(Frame(name, raw, w.origin))

    def _partial_start(self, window_ms: int, origin: float | None) -> None:
        self.hub.spawn(self._partial(window_ms, origin))

    async def _partial(self, window_ms: int, origin: float | None) -> None:
        from exchange_site.redis import get_async_redis

        try:
            snap = await _depth_read_async(get_async_redis(), self.info.symbol)
        finally:
            self.partial_due.pop(window_ms, None)
        info = self.info
        for levels in PARTIAL_LEVELS:
            names = [n for n in self._partial_names(levels, window_ms) if self.hub.subscribers(n)]
            if not names:
                continue
            body = _dumps({
                "lastUpdateId": snap.update_id,
                "bids": [[info.price(p), info.qty(q)] for p, q in snap.bids[:levels]],
                "asks": [[info.price(p), info.qty(q)] for p, q in snap.asks[:levels]],
            })  # fmt: skip
            for name in names:
                self.hub.publish(Frame(name, body, origin))

    def _trades(self, trades: list[list[Any]], trade_ms: int, origin: float | None) -> None:
        self.ticker_dirty = True
        trade_name, agg_name = f"{self.lower}@trade", f"{self.lower}@aggTrade"
        want_trade = bool(self.hub.subscribers(trade_name))
        want_agg = bool(self.hub.subscribers(agg_name))
        if not (want_trade or want_agg):
            return
        info = self.info
        event_ms = now_ms()
        for tid, ticks, lots, buyer_maker in trades:
            p, q = info.price(ticks), info.qty(lots)
            if want_trade:
                ev = {
                    "e": "trade", "E": event_ms, "s": info.symbol, "t": tid, "p": p, "q": q,
                    "T": trade_ms, "m": buyer_maker, "M": True,
                }  # fmt: skip
                self.hub.publish(Frame(trade_name, _dumps(ev), origin))
            if want_agg:
                ev = {
                    "e": "aggTrade", "E": event_ms, "s": info.symbol, "a": tid, "p": p, "q": q,
                    "f": tid, "l": tid, "T": trade_ms, "m": buyer_maker, "M": True,
                }  # fmt: skip
                self.hub.publish(Frame(agg_name, _dumps(ev), origin))

    def _klines(self, klines: list[dict[str, Any]], origin: float | None) -> None:
        event_ms = now_ms()
        for k in klines:
            name = f"{self.lower}@kline_{k['i']}"
            if self.hub.subscribers(name):
                self.hub.publish(Frame(name, _dumps(kline_event(self.info, k, event_ms)), origin))

    # -- tickers

    def _ticker_wanted(self) -> bool:
        return bool(
            self.hub.subscribers(f"{self.lower}@ticker")
            or self.hub.subscribers(f"{self.lower}@miniTicker")
        )

    async def _ticker_loop(self) -> None:
        while self._ticker_wanted():
            await asyncio.sleep(TICKER_EVERY_S)
            stale = time.monotonic() - self.ticker_at > TICKER_REFRESH_S
            if not (self.ticker_dirty or stale):
                continue
            previous = self.ticker_last
            try:
                full, mini = await self._ticker_compute()
            except Exception as exc:  # a database hiccup: try again next second
                log.warning("live.ticker_failed", symbol=self.info.symbol, error=str(exc))
                continue
            if previous is not None and _same(previous[0], full):
                continue
            self.hub.publish(Frame(f"{self.lower}@ticker", _dumps(full)))
            self.hub.publish(Frame(f"{self.lower}@miniTicker", _dumps(mini)))
        self.ticker_task = None

    async def _ticker_compute(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self.ticker_dirty = False
        self.ticker_at = time.monotonic()
        rows = await db_call(_ticker_rows, [self.info])
        self.ticker_last = ticker_events(self.info, rows[self.info.symbol], now_ms())
        return self.ticker_last

    async def on_subscribe(self, sub: Subscriber, stream: str) -> None:
        parsed = stream_parse(stream)
        if parsed is None:
            return
        if parsed.kind in ("ticker", "miniTicker"):
            if self.ticker_last is None or time.monotonic() - self.ticker_at > TICKER_EVERY_S:
                await self._ticker_compute()
            assert self.ticker_last is not None
            full, mini = self.ticker_last
            sub.push(Frame(stream, _dumps(full if parsed.kind == "ticker" else mini)))
            if self.ticker_task is None:
                self.ticker_task = asyncio.get_running_loop().create_task(self._ticker_loop())
        elif parsed.kind == "kline":
            k = await db_call(_kline_current, self.info, parsed.interval)
            if k is not None:
                sub.push(Frame(stream, _dumps(kline_event(self.info, k, now_ms()))))


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    skip = ("E", "C", "O")
    return all(a[k] == b[k] for k in a if k not in skip)


async def _depth_read_async(client: Any, symbol: str) -> Any:
    """depth_read on the asyncio client (same keys, same MULTI)."""
    from marketdata.depthstore import DepthSnapshot

    pipe = client.pipeline(transaction=True)
    pipe.hgetall(f"depth:{symbol}:b")
    pipe.hgetall(f"depth:{symbol}:a")
    pipe.get(f"depth:{symbol}:u")
    raw_b, raw_a, raw_u = await pipe.execute()
    top = max(PARTIAL_LEVELS)
    bids = sorted(((int(p), int(q)) for p, q in raw_b.items()), reverse=True)[:top]
    asks = sorted((int(p), int(q)) for p, q in raw_a.items())[:top]
    return DepthSnapshot(int(raw_u or 0), bids, asks)


class AllTickersFeed:
    """`!ticker@arr` / `!miniTicker@arr`: every market's ticker, recomputed every second while
    subscribed; each push carries only the markets whose statistics changed."""

    def __init__(self, hub: Hub, channel: str, directory: MarketDirectory) -> None:
        self.hub = hub
        self.directory = directory
        self.last: dict[str, dict[str, Any]] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def on_message(self, data: bytes) -> None:
        return None

    async def _compute(self) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        infos = await self.directory.all()
        rows = await db_call(_ticker_rows, infos)
        event_ms = now_ms()
        by_symbol = {i.symbol: i for i in infos}
        return {s: ticker_events(by_symbol[s], row, event_ms) for s, row in rows.items()}

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICKER_EVERY_S)
            try:
                events = await self._compute()
            except Exception as exc:  # a database hiccup: try again next second
                log.warning("live.tickers_failed", error=str(exc))
                continue
            changed = [
                pair for s, pair in events.items()
                if s not in self.last or not _same(self.last[s], pair[0])
            ]  # fmt: skip
            self.last.update({s: pair[0] for s, pair in events.items()})
            if changed:
                full, mini = _dumps([f for f, _ in changed]), _dumps([m for _, m in changed])
                for name in ALL_TICKERS:
                    self.hub.publish(Frame(name, full if name.startswith("!ticker") else mini))

    async def on_subscribe(self, sub: Subscriber, stream: str) -> None:
        events = await self._compute()
        self.last.update({s: pair[0] for s, pair in events.items()})
        index = 0 if stream.startswith("!ticker") else 1
        sub.push(Frame(stream, _dumps([pair[index] for pair in events.values()])))


def register_market_streams(hub: Hub) -> MarketDirectory:
    """Teach `hub` the market stream names."""
    directory = MarketDirectory()
    all_channel = channel_name("md-all", "tickers")

    async def resolve(name: str) -> StreamSpec | None:
        if name in ALL_TICKERS:
            return StreamSpec(
                channel=all_channel, feed=lambda h, ch: AllTickersFeed(h, ch, directory)
            )
        parsed = stream_parse(name)
        if parsed is None:
            return None
        info = await directory.get(parsed.symbol)
        if info is None:
            return None
        return StreamSpec(
            channel=market_channel(info.symbol),
            feed=lambda h, ch: MarketFeed(h, ch, info),
        )

    hub.register(resolve)
    return directory


__all__ = [
    "MarketFeed",
    "StreamName",
    "depth_read",
    "fmt",
    "register_market_streams",
    "stream_parse",
]
