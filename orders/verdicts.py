"""Bounded waits for the engine's verdict on one command.

The web attaches a request id to a command; after committing the batch that applied it, the
matcher RPUSHes to `verdict:{rid}`. A waiting request BLPOPs that key with a timeout, so it holds
no thread (async) and never waits longer than the bound.
"""

from __future__ import annotations

import secrets

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


async def verdict_wait(request_id: str, timeout: float = 2.0) -> bool:
    """True once the matcher committed the command `request_id`; False after `timeout` seconds."""
    result = await get_async_redis().blpop([verdict_key(request_id)], timeout=timeout)
    return result is not None


def verdict_wait_sync(request_id: str, timeout: float = 2.0) -> bool:
    """The same for synchronous callers (UI views, tests)."""
    return get_redis().blpop([verdict_key(request_id)], timeout=timeout) is not None
