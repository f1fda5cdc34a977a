"""The published order book per market, in Redis, written by the matcher after each commit.

Layout (prices in ticks, quantities in lots, as decimal strings of integers):
  depth:{SYMBOL}:b  hash price_ticks -> qty_lots   (bids)
  depth:{SYMBOL}:a  hash price_ticks -> qty_lots   (asks)
  depth:{SYMBOL}:u  the book update id the two hashes reflect
  depth:{SYMBOL}:last  the last trade price in ticks (reference price for the price band)
Each write is one MULTI/EXEC, so a reader taking all three keys in one MULTI sees a consistent
book at one update id. The REST snapshot therefore is never older than a depth event already
published (the matcher publishes events after this write).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis
from redis.typing import EncodableT, FieldT


def _keys(symbol: str) -> tuple[str, str, str]:
    return f"depth:{symbol}:b", f"depth:{symbol}:a", f"depth:{symbol}:u"


def depth_write(
    client: redis.Redis,
    *,
    symbol: str,
    update_id: int,
    bids: Mapping[int, int],
    asks: Mapping[int, int],
    full: bool = False,
    last_price_ticks: int = 0,
) -> None:
    """Apply changed levels (qty 0 removes a level); with full=True replace the whole book."""
    pipe = client.pipeline(transaction=True)
    depth_queue(
        pipe, symbol=symbol, update_id=update_id, bids=bids, asks=asks, full=full,
        last_price_ticks=last_price_ticks,
    )  # fmt: skip
    pipe.execute()


def depth_queue(
    pipe: redis.client.Pipeline,
    *,
    symbol: str,
    update_id: int,
    bids: Mapping[int, int],
    asks: Mapping[int, int],
    full: bool = False,
    last_price_ticks: int = 0,
) -> None:
    """depth_write's commands, queued on the caller's transactional pipeline (the matcher's
    single post-commit round trip)."""
    kb, ka, ku = _keys(symbol)
    if full:
        pipe.delete(kb, ka)
    for key, levels in ((kb, bids), (ka, asks)):
        gone = [price for price, qty in levels.items() if qty == 0]
        live: dict[FieldT, EncodableT] = {price: qty for price, qty in levels.items() if qty}
        if gone and not full:
            pipe.hdel(key, *gone)
        if live:
            pipe.hset(key, mapping=live)
    pipe.set(ku, update_id)
    if last_price_ticks:
        pipe.set(f"depth:{symbol}:last", last_price_ticks)


def last_price_read(client: redis.Redis, *, symbol: str) -> int:
    """The last trade price in ticks, 0 when the market has not traded."""
    raw = client.get(f"depth:{symbol}:last")
    return int(raw) if raw else 0


def reference_read(client: redis.Redis, *, symbol: str) -> tuple[int, bool]:
    """(last trade price in ticks or 0, whether the store holds the market's book at all): a
    0 with no book means the store was lost (Redis restarted or flushed), not "never traded"."""
    last, update_id = client.mget(f"depth:{symbol}:last", _keys(symbol)[2])
    return (int(last) if last else 0), update_id is not None


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    update_id: int
    bids: list[tuple[int, int]]  # (price_ticks, qty_lots), best first
    asks: list[tuple[int, int]]


def depth_read(client: redis.Redis, *, symbol: str, limit: int) -> DepthSnapshot:
    """A consistent snapshot of the top `limit` levels per side."""
    kb, ka, ku = _keys(symbol)
    pipe = client.pipeline(transaction=True)
    pipe.hgetall(kb)
    pipe.hgetall(ka)
    pipe.get(ku)
    raw_b, raw_a, raw_u = pipe.execute()
    bids = sorted(((int(p), int(q)) for p, q in raw_b.items()), reverse=True)[:limit]
    asks = sorted((int(p), int(q)) for p, q in raw_a.items())[:limit]
    return DepthSnapshot(int(raw_u or 0), bids, asks)
