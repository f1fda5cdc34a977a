"""Writes of the market-data app: the candle roll-up."""

from __future__ import annotations

import time
from typing import Any

import orjson
from django.db import connection, transaction

from exchange_site.redis import get_redis
from marketdata.feedbus import market_channel
from marketdata.models import Candle, CandleCursor
from marketdata.selectors import KLINE_INTERVALS_MS, WEEK_OFFSET_MS, kline_payload
from orders.models import Market, Trade

ROLL_BATCH = 5000

# (interval, step ms, offset ms) of the fixed-length intervals; "1M" is calendar months.
_FIXED = [(i, step, WEEK_OFFSET_MS if i == "1w" else 0) for i, step in KLINE_INTERVALS_MS.items()]

_ROLL_SQL = """
WITH t AS (
    SELECT id, price, qty, quote_qty, is_buyer_maker,
           FLOOR(EXTRACT(EPOCH FROM created_at) * 1000)::bigint AS ms,
           created_at
    FROM {trade} WHERE market_id = %(market)s AND id > %(cursor)s ORDER BY id LIMIT %(limit)s
), iv(i, step, off) AS (
    SELECT * FROM unnest(%(names)s::text[], %(steps)s::bigint[], %(offs)s::bigint[])
), b AS (
    SELECT iv.i, ((t.ms - iv.off) / iv.step) * iv.step + iv.off AS ot, t.*
    FROM t CROSS JOIN iv
    UNION ALL
    SELECT '1M', (EXTRACT(EPOCH FROM date_trunc('month', t.created_at, 'UTC')) * 1000)::bigint,
           t.*
    FROM t
), agg AS (
    SELECT i, ot, (array_agg(price ORDER BY id))[1] AS o, MAX(price) AS h, MIN(price) AS l,
           (array_agg(price ORDER BY id DESC))[1] AS c, SUM(qty) AS v, SUM(quote_qty) AS q,
           COUNT(*) AS n,
           COALESCE(SUM(qty) FILTER (WHERE NOT is_buyer_maker), 0) AS tv,
           COALESCE(SUM(quote_qty) FILTER (WHERE NOT is_buyer_maker), 0) AS tq,
           MIN(id) AS f, MAX(id) AS la
    FROM b GROUP BY i, ot
)
INSERT INTO {candle} AS k (market_id, interval, open_time, open, high, low, close, volume,
    quote_volume, count, taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id)
SELECT %(market)s, i, ot, o, h, l, c, v, q, n, tv, tq, f, la FROM agg
ON CONFLICT (market_id, interval, open_time) DO UPDATE SET
    high = GREATEST(k.high, EXCLUDED.high),
    low = LEAST(k.low, EXCLUDED.low),
    close = EXCLUDED.close,
    volume = k.volume + EXCLUDED.volume,
    quote_volume = k.quote_volume + EXCLUDED.quote_volume,
    count = k.count + EXCLUDED.count,
    taker_buy_volume = k.taker_buy_volume + EXCLUDED.taker_buy_volume,
    taker_buy_quote_volume = k.taker_buy_quote_volume + EXCLUDED.taker_buy_quote_volume,
    last_trade_id = EXCLUDED.last_trade_id
RETURNING interval, open_time, open, high, low, close, volume, quote_volume, count,
    taker_buy_volume, taker_buy_quote_volume, first_trade_id, last_trade_id
"""


@transaction.atomic(durable=True)
def _roll_once(*, market_id: int, limit: int) -> list[tuple[Any, ...]]:
    CandleCursor.objects.get_or_create(market_id=market_id)
    cursor = CandleCursor.objects.select_for_update().get(market_id=market_id)
    sql = _ROLL_SQL.format(trade=Trade._meta.db_table, candle=Candle._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(
            sql,
            {
                "market": market_id,
                "cursor": cursor.last_trade_id,
                "limit": limit,
                "names": [i for i, _, _ in _FIXED],
                "steps": [s for _, s, _ in _FIXED],
                "offs": [o for _, _, o in _FIXED],
            },
        )
        rows: list[tuple[Any, ...]] = cur.fetchall()
    if rows:
        cursor.last_trade_id = max(row[12] for row in rows)
        cursor.save(update_fields=["last_trade_id"])
    return rows


def candles_roll(*, market_id: int, limit: int = ROLL_BATCH, budget_s: float = 2.0) -> int:
    """Add the market's trades after its cursor to its candles, every interval, `limit` trades
    per transaction (which locks the cursor row, upserts the candles and advances the cursor),
    until none is left or the budget is spent; returns the transactions that added some.
    After each commit the changed candles are published to the market's channel (the kline
    streams). Idempotent."""
    market = Market.objects.select_related("base", "quote").get(pk=market_id)
    started = time.monotonic()
    total = 0
    while True:
        rows = _roll_once(market_id=market_id, limit=limit)
        if not rows:
            return total
        total += 1
        now_ms = int(time.time() * 1000)
        latest: dict[str, tuple[Any, ...]] = {}
        for row in rows:
            if row[0] not in latest or row[1] > latest[row[0]][1]:
                latest[row[0]] = row
        payload = {
            "c": time.time(),
            "k": [
                kline_payload(
                    row,
                    base_precision=market.base.precision,
                    quote_precision=market.quote.precision,
                    now_ms=now_ms,
                )
                for row in latest.values()
            ],
        }
        get_redis().publish(market_channel(market.symbol), orjson.dumps(payload))
        if time.monotonic() - started > budget_s:
            return total
