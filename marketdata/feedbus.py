"""Names of the Redis pub/sub channels that carry live data from the publishers (the matcher,
the candle roll-up) to the web processes' fan-out hub (marketdata.live).

Pub/sub channels are global to a Redis server, not per database, so each name carries the
database number of REDIS_URL: two stacks sharing one server (tests, helpers) never hear each
other.
"""

from __future__ import annotations

import functools
from urllib.parse import urlparse

from django.conf import settings


@functools.cache
def _namespace() -> str:
    # Only the database number: processes may spell the host differently.
    return (urlparse(settings.REDIS_URL).path or "/0").lstrip("/") or "0"


def market_channel(symbol: str) -> str:
    """The channel of one market: depth diffs and trades (matcher), candles (roll-up)."""
    return f"md:{_namespace()}:{symbol}"


def channel_name(kind: str, key: str) -> str:
    """Any other live channel (e.g. user data: channel_name("user", str(user_id)))."""
    return f"{kind}:{_namespace()}:{key}"
