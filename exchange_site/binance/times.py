"""Milliseconds since the Unix epoch (the API's time unit) <-> aware datetimes, exactly."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
# 9999-12-31T23:59:59.999Z: the last millisecond a datetime holds. Time parameters above it are
# refused (-1100), so from_ms never overflows.
MAX_TIME_MS = 253_402_300_799_999
LAST_US_OF_MS = timedelta(microseconds=999)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(moment: datetime) -> int:
    # Integer arithmetic: datetime.timestamp() goes through a float.
    return (moment - EPOCH) // ONE_MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def end_of_ms(ms: int) -> datetime:
    """The last microsecond of millisecond `ms`: `created_at <= end_of_ms(end)` takes the whole
    end millisecond (created_at has microseconds), even at MAX_TIME_MS, where `ms + 1` would not
    be a datetime."""
    return from_ms(ms) + LAST_US_OF_MS
