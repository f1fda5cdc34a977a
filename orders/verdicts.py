"""Bounded waits for the engine's verdict on one command.

The web attaches a request id to a command; after committing the batch that applied it, the
matcher RPUSHes to `verdict:{rid}`. A waiting request BLPOPs that key with a timeout, so it holds
no thread (async) and never waits longer than the bound.

The verdict on a new order carries the order's state as the batch committed it, and its trades
in that batch (`PlacedVerdict`): the API answers RESULT and FULL from it without re-reading the
rows. Any other verdict is `1` (the caller re-reads).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import orjson
import redis

from exchange_site.logctx import command_id_next
from exchange_site.redis import get_async_redis, get_redis

VERDICT_TTL_S = 60


def request_id_new() -> str:
    """The command's id: inside an HTTP request, derived from the request id (so the logs of the
    API, the matcher and the verdict share it: exchange_site.logctx); otherwise random."""
    return command_id_next() or secrets.token_hex(12)


def verdict_key(rid: str) -> str:
    return f"verdict:{rid}"


def verdicts_publish(pipe: redis.client.Pipeline, rids: set[str]) -> None:
    """Queue the verdict signals on the matcher's post-commit pipeline."""
    for rid in rids:
        key = verdict_key(rid)
        pipe.rpush(key, 1)
        pipe.expire(key, VERDICT_TTL_S)


@dataclass(frozen=True, slots=True)
class PlacedFill:
    """One trade of a new order, in the market's units; fees as recorded with the trade."""

    trade_id: int
    price_ticks: int
    qty_lots: int
    buyer_fee: Decimal
    seller_fee: Decimal


@dataclass(frozen=True, slots=True)
class PlacedVerdict:
    """A new order as the batch that applied its place committed it (the row's new values)."""

    status: str
    executed_lots: int
    quote_units: int
    is_working: bool
    working: bool  # working_at was set to the commit time
    reject_reason: str | None
    committed_ms: int
    fills: list[PlacedFill]


def placed_verdict_encode(v: PlacedVerdict) -> bytes:
    return orjson.dumps([
        v.status, v.executed_lots, v.quote_units, v.is_working, v.working, v.reject_reason,
        v.committed_ms,
        [[f.trade_id, f.price_ticks, f.qty_lots, str(f.buyer_fee), str(f.seller_fee)]
         for f in v.fills],
    ])  # fmt: skip


def placed_verdict_decode(payload: bytes) -> PlacedVerdict | None:
    """The verdict on a new order, or None when the matcher sent a bare signal."""
    if not payload.startswith(b"["):
        return None
    status, lots, units, is_working, working, reason, ms, fills = orjson.loads(payload)
    return PlacedVerdict(
        status, lots, units, is_working, working, reason, ms,
        [PlacedFill(t, p, q, Decimal(b), Decimal(s)) for t, p, q, b, s in fills],
    )  # fmt: skip


async def verdict_get(request_id: str, timeout: float = 2.0) -> bytes | None:
    """The verdict's payload once the matcher committed the command `request_id`; None after
    `timeout` seconds."""
    result = await get_async_redis().blpop([verdict_key(request_id)], timeout=timeout)
    return None if result is None else cast(bytes, result[1])


async def verdict_wait(request_id: str, timeout: float = 2.0) -> bool:
    """True once the matcher committed the command `request_id`; False after `timeout` seconds."""
    return await verdict_get(request_id, timeout) is not None


def verdict_wait_sync(request_id: str, timeout: float = 2.0) -> bool:
    """The same for synchronous callers (UI views, tests)."""
    return get_redis().blpop([verdict_key(request_id)], timeout=timeout) is not None
