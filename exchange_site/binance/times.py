"""Milliseconds since the Unix epoch (the API's time unit) <-> aware datetimes, exactly."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(moment: datetime) -> int:
    # Integer arithmetic: datetime.timestamp() goes through a float.
    return (moment - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)
