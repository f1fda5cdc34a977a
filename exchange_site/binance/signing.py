"""SIGNED requests (contract section 2): the payload, the HMAC and the timing window.

Payload = raw query string (as received, without "?") immediately followed by the raw body, with
the `signature=<hex>` pair and the "&" joining it removed. Nothing is decoded, re-sorted or
re-encoded: the reference clients order and encode parameters differently, and only the raw
bytes are common ground.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal

from . import errors

SIGNATURE_PREFIX = b"signature="
TIMESTAMP_RE = re.compile(r"^[0-9]{1,20}$")
RECV_WINDOW_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,3})?$")
# What the schema declares: 0 to 60000 without leading zeros, up to 3 decimals. A longer number
# above 60000 is -1131 (Binance's answer); anything else outside this pattern -1100.
RECV_WINDOW_PATTERN = r"^(60000(\.0{1,3})?|(0|[1-9][0-9]{0,3}|[1-5][0-9]{4})(\.[0-9]{1,3})?)$"
RECV_WINDOW_DEFAULT_MS = 5000
RECV_WINDOW_MAX_MS = 60000
# Timestamps at or above this are microseconds (the contract allows clients to send them).
MICROSECONDS_FROM = 10**15


def strip_signature(part: bytes) -> bytes:
    """`part` without any `signature=...` pair and the "&" that joined it."""
    if SIGNATURE_PREFIX not in part:
        return part
    return b"&".join(p for p in part.split(b"&") if not p.startswith(SIGNATURE_PREFIX))


def payload(query: bytes, body: bytes) -> bytes:
    return strip_signature(query) + strip_signature(body)


def signature_compute(secret: bytes, message: bytes) -> str:
    """Lower-case hex HMAC-SHA256."""
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def signature_check(*, secret: bytes, query: bytes, body: bytes, signature: str) -> None:
    """Raise -1022 unless `signature` (hex, any case) signs the request; constant time."""
    expected = signature_compute(secret, payload(query, body)).encode()
    given = signature.lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, given):
        raise errors.signature_invalid()


def timing_check(*, timestamp: str, recv_window: str | None, now_us: int) -> None:
    """Accept only if timestamp < now + 1000 ms and now - timestamp <= recvWindow.

    Works in integer microseconds: recvWindow may carry up to 3 decimals (µs resolution), and
    timestamps may come in microseconds.
    """
    if not TIMESTAMP_RE.fullmatch(timestamp):
        raise errors.illegal_chars("timestamp", TIMESTAMP_RE.pattern)
    if recv_window is None:  # not sent (sent empty is malformed: the schema allows no "")
        window_us = RECV_WINDOW_DEFAULT_MS * 1000
    else:
        if not RECV_WINDOW_RE.fullmatch(recv_window):
            raise errors.illegal_chars("recvWindow", RECV_WINDOW_RE.pattern)
        window = Decimal(recv_window)
        if window > RECV_WINDOW_MAX_MS:
            raise errors.recv_window_too_large()
        if not re.fullmatch(RECV_WINDOW_PATTERN, recv_window):  # e.g. leading zeros
            raise errors.illegal_chars("recvWindow", RECV_WINDOW_PATTERN)
        window_us = int(window * 1000)
    ts = int(timestamp)
    ts_us = ts if ts >= MICROSECONDS_FROM else ts * 1000
    if ts_us >= now_us + 1_000_000:
        raise errors.timestamp_ahead()
    if now_us - ts_us > window_us:
        raise errors.timestamp_outside()
