"""Publishing user events: one Redis pub/sub channel per user, `ud:<user id>`.

The writers (the matcher after its batch commit, settlement after its transaction, ledger_post
through transaction.on_commit, the API-key services) call these functions once their change is
committed; the web processes' hub (userdata.hub) holds one subscription per user with at least
one open stream there and fans each message out to that user's sockets.

Wire format on a channel: an event is its JSON object as the clients receive it (first byte
`{`); a control message for the sockets themselves is `!` followed by a JSON object:
`{"ctl": "key_off", "key": <api key id>}` (the API key was disabled: its streams end) or
`{"ctl": "lk_off", "lk": "<listen key>"}` (the listen key was closed).

Imports nothing but the Redis client: every app may publish without a layering cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import redis
import structlog

log = structlog.get_logger(__name__)

PREFIX = "ud:"


def user_channel(user_id: int) -> str:
    return f"{PREFIX}{user_id}"


def listening_users(client: redis.Redis, user_ids: Iterable[int]) -> set[int]:
    """The users with at least one subscribed stream in any web process (PUBSUB NUMSUB, one
    round trip). Writers skip building events for everybody else."""
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    reply = client.pubsub_numsub(*[user_channel(u) for u in ids])  # [(channel, count), ...]
    return {u for u, (_, count) in zip(ids, reply, strict=True) if int(count)}


def user_events_publish(
    client: redis.Redis, events: Iterable[tuple[int, Mapping[str, Any]]]
) -> int:
    """Publish (user id, event) pairs, in order, in one pipeline; returns how many."""
    pipe = client.pipeline(transaction=False)
    n = 0
    for user_id, event in events:
        pipe.publish(user_channel(user_id), orjson.dumps(event))
        n += 1
    if n:
        pipe.execute()
    return n


def user_control_publish(client: redis.Redis, user_id: int, message: Mapping[str, Any]) -> None:
    """A control message for the user's open streams (see the module docstring)."""
    client.publish(user_channel(user_id), b"!" + orjson.dumps(message))


def publish_quietly(fn: Any, *args: Any, **kwargs: Any) -> None:
    """Run a publisher, logging instead of raising: the change is committed already, and a lost
    event must not turn a committed request into an error (the REST state stays the truth)."""
    try:
        fn(*args, **kwargs)
    except Exception:
        log.warning("userdata.publish_failed", publisher=getattr(fn, "__name__", str(fn)),
                    exc_info=True)  # fmt: skip
