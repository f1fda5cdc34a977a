"""SIGNED request primitives (contract section 2): payload, HMAC, timing. No database."""

from __future__ import annotations

import pytest

from exchange_site.binance import errors
from exchange_site.binance.signing import (
    payload,
    signature_check,
    signature_compute,
    strip_signature,
    timing_check,
)

SECRET = b"sandbox-secret-0001"
VECTOR_ORDER = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=50000"
    "&newClientOrderId=test-order-1&timestamp=1700000000000&recvWindow=10000"
)
VECTOR_ORDER_HEX = "220d0c0e6a14fd1a2c983424e21ea10326483e5aa13af7834f48082c6b70c6cb"
VECTOR_ACCOUNT = "timestamp=1700000000000&recvWindow=10000"
VECTOR_ACCOUNT_HEX = "ef89c1c7166aebb996713dba162ef67d51b76c7e7af860140c92cfb6c30e5694"
NOW_US = 1_700_000_000_000_000  # 1700000000000 ms


@pytest.mark.parametrize(
    ("message", "expected"),
    [(VECTOR_ORDER, VECTOR_ORDER_HEX), (VECTOR_ACCOUNT, VECTOR_ACCOUNT_HEX)],
)
def test_contract_test_vectors(message: str, expected: str) -> None:
    assert signature_compute(SECRET, message.encode()) == expected


@pytest.mark.parametrize(
    ("query", "body"),
    [
        # signature last in the query (python-binance style GET)
        (VECTOR_ORDER + "&signature=" + VECTOR_ORDER_HEX, ""),
        # everything in the body (POST/DELETE from a client that sends a form)
        ("", VECTOR_ORDER + "&signature=" + VECTOR_ORDER_HEX),
        # split: some params in the query, the rest (and the signature) in the body
        (VECTOR_ORDER[:40], VECTOR_ORDER[40:] + "&signature=" + VECTOR_ORDER_HEX),
        # upper-case hex is accepted
        (VECTOR_ORDER + "&signature=" + VECTOR_ORDER_HEX.upper(), ""),
    ],
)
def test_signature_over_raw_query_then_body(query: str, body: str) -> None:
    signature = VECTOR_ORDER_HEX.upper() if VECTOR_ORDER_HEX.upper() in query else VECTOR_ORDER_HEX
    signature_check(secret=SECRET, query=query.encode(), body=body.encode(), signature=signature)


def test_signature_mismatch_is_1022() -> None:
    wrong = "0" * 64
    with pytest.raises(errors.ApiError) as exc:
        signature_check(secret=SECRET, query=VECTOR_ACCOUNT.encode(), body=b"", signature=wrong)
    assert (exc.value.code, exc.value.msg) == (-1022, "Signature for this request is not valid.")


def test_signature_covers_raw_bytes_not_decoded_values() -> None:
    # The same parameters re-encoded differently must not verify: only raw bytes count.
    encoded = b"symbol=BTCUSDT&newClientOrderId=a%2Db&timestamp=1"
    decoded = b"symbol=BTCUSDT&newClientOrderId=a-b&timestamp=1"
    good = signature_compute(SECRET, encoded)
    signature_check(secret=SECRET, query=encoded, body=b"", signature=good)
    with pytest.raises(errors.ApiError):
        signature_check(secret=SECRET, query=decoded, body=b"", signature=good)


def test_non_ascii_signature_is_a_mismatch_not_a_crash() -> None:
    with pytest.raises(errors.ApiError) as exc:
        signature_check(secret=SECRET, query=b"a=1", body=b"", signature="é" * 64)
    assert exc.value.code == -1022


@pytest.mark.parametrize(
    ("part", "stripped"),
    [
        (b"a=1&signature=ff", b"a=1"),
        (b"signature=ff&a=1", b"a=1"),
        (b"a=1&signature=ff&b=2", b"a=1&b=2"),
        (b"signature=ff", b""),
        (b"a=1", b"a=1"),
        (b"", b""),
    ],
)
def test_strip_signature(part: bytes, stripped: bytes) -> None:
    assert strip_signature(part) == stripped


def test_payload_is_query_immediately_followed_by_body() -> None:
    assert payload(b"a=1&signature=x", b"b=2") == b"a=1b=2"


@pytest.mark.parametrize(
    ("timestamp", "window", "code", "msg_part"),
    [
        ("1700000000000", None, None, None),
        ("1700000000999", None, None, None),  # 999 ms ahead: accepted
        ("1700000001000", None, -1021, "ahead"),  # 1000 ms ahead: refused
        ("1699999995000", None, None, None),  # exactly the default window of 5000
        ("1699999994999", None, -1021, "outside"),
        ("1699999990000", "10000", None, None),
        ("1699999989999", "10000", -1021, "outside"),
        ("1699999990000", "10000.5", None, None),  # up to 3 decimals
        ("1699999989999", "10000.999", -1021, "outside"),
        ("1699999940000", "60000", None, None),
        ("1700000000000", "60001", -1131, "recvWindow"),
        ("1700000000000", "1.2345", -1100, "recvWindow"),
        ("1700000000000", "abc", -1100, "recvWindow"),
        ("1700000000000", "", -1100, "recvWindow"),  # sent empty: malformed, not the default
        ("1700000000000", "010", -1100, "recvWindow"),  # leading zero: outside the pattern
        ("1700000000000000", None, None, None),  # microseconds
        ("1699999994999999", None, -1021, "outside"),
        ("17e11", None, -1100, "timestamp"),
        ("-1", None, -1100, "timestamp"),
    ],
)
def test_timing(timestamp: str, window: str | None, code: int | None, msg_part: str | None) -> None:
    if code is None:
        timing_check(timestamp=timestamp, recv_window=window, now_us=NOW_US)
        return
    with pytest.raises(errors.ApiError) as exc:
        timing_check(timestamp=timestamp, recv_window=window, now_us=NOW_US)
    assert exc.value.code == code
    assert msg_part is not None and msg_part in exc.value.msg
