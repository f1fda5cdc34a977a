"""Read queries behind the public market-data endpoints (/api/v3/ depth, trades, klines, ...).

All sync (ORM / sync Redis); the async API views run them through exchange_site.binance.db.
Trade ids exposed publicly are `orders.Trade.id` (monotonic per market): `id`/`a`/`f`/`l`
in REST and `t`/`a` on the WebSocket streams must be the same number.

The time-range queries filter orders_trade on (market_id, created_at); they want an index on
those two columns once the table is large.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from exchange_site.binance.times import end_of_ms, from_ms, to_ms
from exchange_site.money import fmt
from exchange_site.redis import get_redis
from marketdata.depthstore import DepthSnapshot, depth_read
from orders.models import Market, Trade

ZERO = Decimal(0)

# Kline intervals in ms; "1M" (calendar month) is handled apart. Weeks start on Monday 00:00
# UTC as on Binance: the epoch was a Thursday, so week buckets are offset by 4 days.
KLINE_INTERVALS_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
KLINE_INTERVALS = (*KLINE_INTERVALS_MS, "1M")
WEEK_OFFSET_MS = 4 * 86_400_000


# Markets ------------------------------------------------------------------------------------


def market_get(*, symbol: str) -> Market | None:
    return Market.objects.select_related("base", "quote").filter(symbol=symbol).first()


def market_list(*, symbols: Sequence[str] | None = None) -> list[Market]:
    """Markets by symbol order; with `symbols`, only those that exist."""
    qs = Market.objects.select_related("base", "quote").order_by("symbol")
    if symbols is not None:
        qs = qs.filter(symbol__in=list(symbols))
    return list(qs)


# Depth --------------------------------------------------------------------------------------


def depth_get(*, symbol: str, limit: int) -> DepthSnapshot:
    return depth_read(get_redis(), symbol=symbol, limit=limit)


@dataclass(frozen=True, slots=True)
class BookTop:
    bid_ticks: int
    bid_lots: int
    ask_ticks: int
    ask_lots: int


def book_top_list(*, symbols: Sequence[str]) -> dict[str, BookTop]:
    """Best bid and ask per symbol (zeros for an empty side), from the published depth."""
    result = {}
    client = get_redis()
    for symbol in symbols:
        snap = depth_read(client, symbol=symbol, limit=1)
        bid = snap.bids[0] if snap.bids else (0, 0)
        ask = snap.asks[0] if snap.asks else (0, 0)
        result[symbol] = BookTop(bid[0], bid[1], ask[0], ask[1])
    return result


# Trades -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicTrade:
    id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    time_ms: int
    is_buyer_maker: bool


_TRADE_FIELDS = ("id", "price", "qty", "quote_qty", "created_at", "is_buyer_maker")


def _public(
    rows: Sequence[tuple[int, Decimal, Decimal, Decimal, datetime, bool]],
) -> list[PublicTrade]:
    return [PublicTrade(r[0], r[1], r[2], r[3], to_ms(r[4]), r[5]) for r in rows]


def trade_list_recent(*, market_id: int, limit: int) -> list[PublicTrade]:
    """The most recent `limit` trades, oldest first."""
    rows = list(
        Trade.objects.filter(market_id=market_id)
        .order_by("-id")
        .values_list(*_TRADE_FIELDS)[:limit]
    )
    rows.reverse()
    return _public(rows)


def trade_list_range(
    *,
    market_id: int,
    from_id: int | None,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> list[PublicTrade]:
    """Trades from `from_id` and/or within [start, end] (inclusive), oldest first; with no
    lower bound (neither from_id nor start) the most recent `limit` of the range."""
    qs = Trade.objects.filter(market_id=market_id)
    if from_id is not None:
        qs = qs.filter(id__gte=from_id)
    if start_ms is not None:
        qs = qs.filter(created_at__gte=from_ms(start_ms))
    if end_ms is not None:
        # Inclusive of the whole end millisecond (created_at has microseconds).
        qs = qs.filter(created_at__lte=end_of_ms(end_ms))
    if from_id is None and start_ms is None:
        rows = list(qs.order_by("-id").values_list(*_TRADE_FIELDS)[:limit])
        rows.reverse()
    else:
        rows = list(qs.order_by("id").values_list(*_TRADE_FIELDS)[:limit])
    return _public(rows)


def last_price_list(*, market_ids: Sequence[int]) -> dict[int, Decimal]:
    """The last trade price per market (markets without trades are absent)."""
    if not market_ids:
        return {}
    table = Trade._meta.db_table
    with connection.cursor() as cursor:
        # LATERAL + LIMIT 1 walks the (market_id, id) index backwards: one row per market.
        cursor.execute(
            f"""
            SELECT m.id, t.price FROM unnest(%s::bigint[]) AS m(id)
            CROSS JOIN LATERAL (
                SELECT price FROM {table} WHERE market_id = m.id ORDER BY id DESC LIMIT 1
            ) AS t
            """,  # noqa: S608 - the table name is ours, values are parameters
            [list(market_ids)],
        )
        return {row[0]: row[1] for row in cursor.fetchall()}


# Rolling statistics -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    """Trade statistics of one market over a window; zeros and -1 ids when there were none."""

    count: int = 0
    first_id: int = -1
    last_id: int = -1
    open: Decimal = ZERO
    high: Decimal = ZERO
    low: Decimal = ZERO
    last: Decimal = ZERO
    last_qty: Decimal = ZERO
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    prev_close: Decimal = ZERO


def stats_list(*, market_ids: Sequence[int], start_ms: int, end_ms: int) -> dict[int, Stats]:
    """Statistics per market over [start, end]; three queries whatever the number of markets."""
    if not market_ids:
        return {}
    table = Trade._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT market_id, COUNT(*), MIN(id), MAX(id), MAX(price), MIN(price),
                   SUM(qty), SUM(quote_qty)
            FROM {table}
            WHERE market_id = ANY(%s) AND created_at >= %s AND created_at < %s
            GROUP BY market_id
            """,  # noqa: S608 - the table name is ours, values are parameters
            [list(market_ids), from_ms(start_ms), from_ms(end_ms + 1)],
        )
        aggregates = cursor.fetchall()
        if not aggregates:
            return {}
        edge_ids = [row[2] for row in aggregates] + [row[3] for row in aggregates]
        cursor.execute(
            f"SELECT id, price, qty FROM {table} WHERE id = ANY(%s)",  # noqa: S608
            [edge_ids],
        )
        edges = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
        cursor.execute(
            f"""
            SELECT f.market_id, p.price FROM unnest(%s::bigint[], %s::bigint[]) AS f(market_id, id)
            CROSS JOIN LATERAL (
                SELECT price FROM {table}
                WHERE market_id = f.market_id AND id < f.id ORDER BY id DESC LIMIT 1
            ) AS p
            """,  # noqa: S608
            [[row[0] for row in aggregates], [row[2] for row in aggregates]],
        )
        prev_close = dict(cursor.fetchall())
    result = {}
    for market_id, count, first_id, last_id, high, low, volume, quote_volume in aggregates:
        result[market_id] = Stats(
            count=count,
            first_id=first_id,
            last_id=last_id,
            open=edges[first_id][0],
            high=high,
            low=low,
            last=edges[last_id][0],
            last_qty=edges[last_id][1],
            volume=volume,
            quote_volume=quote_volume,
            prev_close=prev_close.get(market_id, ZERO),
        )
    return result


@dataclass(frozen=True, slots=True)
class AvgPrice:
    price: Decimal | None  # None: no trade ever
    close_time_ms: int | None  # time of the last trade


def avg_price_get(*, market_id: int, start_ms: int) -> AvgPrice:
    """Volume-weighted average price of the trades since `start_ms`; when there were none, the
    last trade price (as Binance falls back to the last price)."""
    table = Trade._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT SUM(quote_qty), SUM(qty) FROM {table}
            WHERE market_id = %s AND created_at >= %s
            """,  # noqa: S608 - the table name is ours, values are parameters
            [market_id, from_ms(start_ms)],
        )
        quote_sum, qty_sum = cursor.fetchone() or (None, None)
    last = (
        Trade.objects.filter(market_id=market_id).order_by("-id").values_list("price", "created_at")
    ).first()
    if last is None:
        return AvgPrice(None, None)
    if qty_sum:
        return AvgPrice(quote_sum / qty_sum, to_ms(last[1]))
    return AvgPrice(last[0], to_ms(last[1]))


# Klines -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kline:
    open_time_ms: int
    close_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    count: int
    taker_buy_volume: Decimal
    taker_buy_quote_volume: Decimal


def _month_start(ms: int) -> int:
    moment = from_ms(ms)
    return to_ms(moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0))


def _add_months(ms: int, months: int) -> int:
    moment = from_ms(ms)
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return to_ms(moment.replace(year=year, month=month + 1, day=day))


def kline_bucket(interval: str, ms: int) -> int:
    """Open time of the candle containing `ms`."""
    if interval == "1M":
        return _month_start(ms)
    step = KLINE_INTERVALS_MS[interval]
    offset = WEEK_OFFSET_MS if interval == "1w" else 0
    return (ms - offset) // step * step + offset


def kline_shift(interval: str, open_ms: int, count: int) -> int:
    """Open time `count` candles after (or before, if negative) the candle opening at open_ms."""
    if interval == "1M":
        return _add_months(open_ms, count)
    return open_ms + count * KLINE_INTERVALS_MS[interval]


def kline_window(
    interval: str,
    *,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
    now_ms: int,
    first_trade_ms: int | None = None,
) -> tuple[int, int]:
    """[lo, hi) in candle open times, at most `limit` candles. With startTime the oldest from it
    (but not before the market's first trade: a client paging from 0 gets candles); otherwise
    the most recent up to endTime (or now). Only candles opening at or after startTime and at
    or before min(endTime, now) count."""
    last = now_ms if end_ms is None else min(end_ms, now_ms)
    top = kline_shift(interval, kline_bucket(interval, last), 1)
    if start_ms is None:
        return kline_shift(interval, top, -limit), top
    if start_ms >= top:
        # Nothing to answer; and a candle after it may not be a datetime (year 10000).
        return top, top
    lo = kline_bucket(interval, start_ms)
    if lo < start_ms:
        lo = kline_shift(interval, lo, 1)
    if first_trade_ms is not None:
        lo = max(lo, kline_bucket(interval, first_trade_ms))
    # Never a candle opening after endTime, nor one in the future.
    return lo, min(kline_shift(interval, lo, limit), top)


def _candles() -> Any:
    from marketdata.models import Candle

    return Candle.objects


def _first_candle_ms(market_id: int, interval: str) -> int | None:
    row = (
        _candles()
        .filter(market_id=market_id, interval=interval)
        .order_by("open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    return int(row) if row is not None else None


def _close_before(market_id: int, interval: str, open_ms: int) -> Decimal | None:
    row: Decimal | None = (
        _candles()
        .filter(market_id=market_id, interval=interval, open_time__lt=open_ms)
        .order_by("-open_time")
        .values_list("close", flat=True)
        .first()
    )
    return row


def kline_list(
    *,
    market_id: int,
    interval: str,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
    now_ms: int,
) -> list[Kline]:
    """Candles of the roll-up (marketdata.services.candles_roll), ascending; never the trades.

    Candles without trades are filled as Binance does (open = high = low = close = the previous
    close, zero volume), so "the most recent `limit` candles" is the same on a quiet market;
    candles before the market's first trade are omitted. Trades newer than the roll-up's
    cursor (it runs right after each matcher batch) are added from the trade table: at most
    PENDING_TRADES_MAX of them, so the answer is current without ever scanning the history.
    """
    pending = _trades_after_cursor(market_id)
    first = _first_candle_ms(market_id, interval)
    if pending:
        first_pending = kline_bucket(interval, pending[0][1])
        first = first_pending if first is None else min(first, first_pending)
    if first is None:
        return []
    lo, hi = kline_window(
        interval, start_ms=start_ms, end_ms=end_ms, limit=limit, now_ms=now_ms,
        first_trade_ms=first,
    )  # fmt: skip
    if lo >= hi:
        return []
    filled = {k.open_time_ms: k for k in _kline_rows(market_id, interval, lo, hi)}
    close = _close_before(market_id, interval, lo)
    for _, ms, price, qty, quote, buyer_maker in pending:
        open_ms = kline_bucket(interval, ms)
        if open_ms < lo:
            close = price  # newer than every candle: the latest close before lo
        elif open_ms < hi:
            filled[open_ms] = _kline_add(filled.get(open_ms), interval, open_ms, price, qty,
                                         quote, buyer_maker)  # fmt: skip
    result = []
    open_ms = lo
    while open_ms < hi:
        next_ms = kline_shift(interval, open_ms, 1)
        candle = filled.get(open_ms)
        if candle is not None:
            result.append(candle)
            close = candle.close
        elif close is not None:
            result.append(
                Kline(open_ms, next_ms - 1, close, close, close, close, ZERO, ZERO, 0, ZERO, ZERO)
            )
        open_ms = next_ms
    return result


# Trades the roll-up has not reached yet (it runs right after each matcher batch, so these are
# the last moments' trades): at most this many are merged into a klines answer.
PENDING_TRADES_MAX = 1000


def _trades_after_cursor(market_id: int) -> list[tuple[int, int, Decimal, Decimal, Decimal, bool]]:
    """(id, time ms, price, qty, quote qty, buyer is maker) of the market's trades after the
    candle cursor, oldest first; bounded, never the history."""
    from marketdata.models import CandleCursor

    cursor = (
        CandleCursor.objects.filter(market_id=market_id)
        .values_list("last_trade_id", flat=True)
        .first()
    )
    rows = (
        Trade.objects.filter(market_id=market_id, id__gt=cursor or 0)
        .order_by("id")
        .values_list("id", "created_at", "price", "qty", "quote_qty", "is_buyer_maker")[
            :PENDING_TRADES_MAX
        ]
    )
    return [(r[0], to_ms(r[1]), r[2], r[3], r[4], r[5]) for r in rows]


def _kline_add(
    k: Kline | None, interval: str, open_ms: int, price: Decimal, qty: Decimal, quote: Decimal,
    buyer_maker: bool,
) -> Kline:  # fmt: skip
    taker_qty, taker_quote = (ZERO, ZERO) if buyer_maker else (qty, quote)
    if k is None:
        close_ms = kline_shift(interval, open_ms, 1) - 1
        return Kline(open_ms, close_ms, price, price, price, price, qty, quote, 1, taker_qty,
                     taker_quote)  # fmt: skip
    return Kline(
        k.open_time_ms, k.close_time_ms, k.open, max(k.high, price), min(k.low, price), price,
        k.volume + qty, k.quote_volume + quote, k.count + 1, k.taker_buy_volume + taker_qty,
        k.taker_buy_quote_volume + taker_quote,
    )  # fmt: skip


def _kline_rows(market_id: int, interval: str, lo_ms: int, hi_ms: int) -> list[Kline]:
    """The stored candles opening in [lo, hi)."""
    rows = (
        _candles()
        .filter(market_id=market_id, interval=interval, open_time__gte=lo_ms, open_time__lt=hi_ms)
        .order_by("open_time")
        .values_list(
            "open_time",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "quote_volume",
            "count",
            "taker_buy_volume",
            "taker_buy_quote_volume",
        )
    )
    return [
        Kline(
            open_time_ms=int(r[0]),
            close_time_ms=kline_shift(interval, int(r[0]), 1) - 1,
            open=r[1],
            high=r[2],
            low=r[3],
            close=r[4],
            volume=r[5],
            quote_volume=r[6],
            count=r[7],
            taker_buy_volume=r[8],
            taker_buy_quote_volume=r[9],
        )
        for r in rows
    ]


def kline_payload(
    row: tuple[Any, ...], *, base_precision: int, quote_precision: int, now_ms: int
) -> dict[str, Any]:
    """A candle row (interval, open_time, o, h, l, c, v, q, n, tv, tq, f, L) as the `k` object
    of a kline event (symbol added by the reader)."""
    interval, open_ms, o, h, lo, c, v, q, n, tv, tq, first, last = row
    close_ms = kline_shift(interval, open_ms, 1) - 1

    def p(x: Decimal) -> str:
        return fmt(x, quote_precision)

    return {
        "t": open_ms, "T": close_ms, "i": interval, "f": first, "L": last,
        "o": p(o), "c": p(c), "h": p(h), "l": p(lo), "v": fmt(v, base_precision), "n": n,
        "x": close_ms < now_ms, "q": p(q), "V": fmt(tv, base_precision), "Q": p(tq), "B": "0",
    }  # fmt: skip


def candle_current(*, market_id: int, interval: str, now_ms: int) -> dict[str, Any] | None:
    """The open candle of the interval now, as a kline event's `k` object (symbol added by the
    caller): what /klines answers for it (trades after the roll-up's cursor included; an empty
    candle at the last close when nothing traded yet); None before the market's first trade."""
    rows = kline_list(
        market_id=market_id, interval=interval, start_ms=None, end_ms=None, limit=1,
        now_ms=now_ms,
    )  # fmt: skip
    if not rows:
        return None
    k = rows[-1]
    ids = (
        _candles()
        .filter(market_id=market_id, interval=interval, open_time=k.open_time_ms)
        .values_list("first_trade_id", "last_trade_id")
        .first()
    ) or (-1, -1)
    market = Market.objects.select_related("base", "quote").get(pk=market_id)
    row = (
        interval, k.open_time_ms, k.open, k.high, k.low, k.close, k.volume, k.quote_volume,
        k.count, k.taker_buy_volume, k.taker_buy_quote_volume, *ids,
    )  # fmt: skip
    return kline_payload(
        row, base_precision=market.base.precision, quote_precision=market.quote.precision,
        now_ms=now_ms,
    )  # fmt: skip


__all__ = [
    "KLINE_INTERVALS",
    "AvgPrice",
    "BookTop",
    "Kline",
    "PublicTrade",
    "Stats",
    "avg_price_get",
    "book_top_list",
    "candle_current",
    "depth_get",
    "kline_bucket",
    "kline_list",
    "kline_payload",
    "kline_window",
    "last_price_list",
    "market_get",
    "market_list",
    "stats_list",
    "trade_list_range",
    "trade_list_recent",
]
