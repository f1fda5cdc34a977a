"""Input that used to give a 500 or leak internal text (issue 13, item 6): each is a Binance
error with a clear message, and changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from clearing.models import Hold, LedgerTransaction
from exchange_site.binance import errors
from exchange_site.binance.params import CLIENT_ORDER_ID_PATTERN
from exchange_site.binance.times import MAX_TIME_MS
from exchange_site.errors import InvalidInput
from orders import services as order_services
from orders.models import Market, Order
from orders.tests.factories import MarketFactory, trade_make
from tests.api_client import ApiClient, hmac_hex, make_asset, make_market, now_ms

TIMED = [
    ("GET", "/api/v3/allOrders", True, {"symbol": "BTCUSDT"}),
    ("GET", "/api/v3/myTrades", True, {"symbol": "BTCUSDT"}),
    ("GET", "/api/v3/aggTrades", False, {"symbol": "BTCUSDT"}),
    ("GET", "/api/v3/klines", False, {"symbol": "BTCUSDT", "interval": "1m"}),
    ("GET", "/api/v3/klines", False, {"symbol": "BTCUSDT", "interval": "1M"}),
]
TIMED_IDS = [f"{path} {params.get('interval', '')}".strip() for _, path, _, params in TIMED]


def _send(api: ApiClient, method: str, path: str, signed: bool, params: dict[str, Any]) -> Any:
    if signed:
        return api.signed(method, path, params)
    return api.public(method, path, params)


@pytest.mark.parametrize(("method", "path", "signed", "base"), TIMED, ids=TIMED_IDS)
@pytest.mark.parametrize("name", ["startTime", "endTime"])
@pytest.mark.parametrize("value", [MAX_TIME_MS + 1, 9223372036854775807])
def test_time_beyond_year_9999_is_1100(
    signed_api: ApiClient,
    method: str,
    path: str,
    signed: bool,
    base: dict[str, Any],
    name: str,
    value: int,
) -> None:
    make_market()
    response = _send(signed_api, method, path, signed, {**base, name: value})
    assert response.status_code == 400, response.content
    assert response.json() == {
        "code": -1100,
        "msg": f"Illegal characters found in parameter '{name}'; legal range is '0-{MAX_TIME_MS}'.",
    }


@pytest.mark.parametrize(("method", "path", "signed", "base"), TIMED, ids=TIMED_IDS)
def test_times_at_the_last_representable_millisecond_are_answered(
    signed_api: ApiClient,
    trader: User,
    method: str,
    path: str,
    signed: bool,
    base: dict[str, Any],
) -> None:
    trade_make(make_market(), price="100", qty="1", at=timezone.now(), buyer=trader)
    for params in (
        {"startTime": MAX_TIME_MS},
        {"endTime": MAX_TIME_MS},
        {"startTime": MAX_TIME_MS, "endTime": MAX_TIME_MS},
        {"startTime": 0, "endTime": MAX_TIME_MS},
    ):
        response = _send(signed_api, method, path, signed, {**base, **params})
        assert response.status_code in (200, 400), (params, response.content)
        if response.status_code == 200:
            assert isinstance(response.json(), list)
        else:  # more than 24 h between start and end on the account lists
            assert response.json()["code"] == -1127


@pytest.mark.parametrize(
    "client_id", ["abc\n", "a" * 36 + "\n", "a" * 37, "abc\r\n", "\nabc", "ab c"]
)
def test_client_order_id_must_match_its_whole_pattern(
    signed_api: ApiClient, client_id: str
) -> None:
    make_market()
    before = Order.objects.count()
    response = signed_api.signed(
        "POST",
        "/api/v3/order",
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "1",
            "price": "100",
            "newClientOrderId": client_id,
        },
    )
    assert response.status_code == 400, response.content
    assert response.json() == {
        "code": -1100,
        "msg": "Illegal characters found in parameter 'newClientOrderId'; legal range is"
        f" '{CLIENT_ORDER_ID_PATTERN}'.",
    }
    assert Order.objects.count() == before
    query = signed_api.signed(
        "GET", "/api/v3/order", {"symbol": "BTCUSDT", "origClientOrderId": client_id}
    )
    assert query.status_code == 400 and query.json()["code"] == -1100


@pytest.mark.parametrize(
    ("name", "value"),
    # In symbols, a JSON escape: the item decodes to "BTCUSDT" + newline.
    [("symbol", "BTCUSDT\n"), ("limit", "5\n"), ("symbols", '["BTCUSDT\\n"]')],
)
def test_public_parameters_with_a_trailing_newline_are_1100(
    api: ApiClient, name: str, value: str
) -> None:
    make_market()
    params = {"symbol": "BTCUSDT", name: value}
    path = "/api/v3/ticker/price" if name == "symbols" else "/api/v3/depth"
    if name == "symbols":
        del params["symbol"]
    response = api.get(path, params)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == -1100
    assert f"'{name}'" in response.json()["msg"]


def test_signed_timestamp_with_a_trailing_newline_is_1100(signed_api: ApiClient) -> None:
    payload = f"timestamp={now_ms()}%0A"
    signature = hmac_hex(signed_api.secret or "", payload)
    response = signed_api.raw(
        "GET",
        "/api/v3/account",
        query=f"{payload}&signature={signature}",
        headers={"X-MBX-APIKEY": signed_api.key or ""},
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == -1100


# Decimals -------------------------------------------------------------------------------------

HUGE = "1000000000000000000"  # 1e18: one digit more than an amount column holds
OVER_PRECISE = "100000000.00000000000000000001"  # 29 significant digits


def _order(**params: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", **params}


DECIMAL_CASES = [
    (_order(type="MARKET", quoteOrderQty=HUGE), -1013, "Filter failure: NOTIONAL"),
    (_order(type="MARKET", quoteOrderQty=HUGE + "0"), -1013, "Filter failure: NOTIONAL"),
    (
        _order(type="LIMIT", timeInForce="GTC", quantity="1", price=HUGE),
        -1013,
        "Filter failure: PRICE_FILTER",
    ),
    (
        _order(type="LIMIT", timeInForce="GTC", quantity=HUGE, price="100"),
        -1013,
        "Filter failure: LOT_SIZE",
    ),
    (
        _order(type="MARKET", quoteOrderQty=OVER_PRECISE),
        -1111,
        "Parameter 'quoteOrderQty' has too much precision.",
    ),
    (
        _order(type="LIMIT", timeInForce="GTC", quantity="1", price=OVER_PRECISE),
        -1111,
        "Parameter 'price' has too much precision.",
    ),
    (
        _order(type="LIMIT", timeInForce="GTC", quantity="1000.00000000000000000001", price="1"),
        -1111,
        "Parameter 'quantity' has too much precision.",
    ),
]


@pytest.mark.parametrize("path", ["/api/v3/order", "/api/v3/order/test"])
@pytest.mark.parametrize(("params", "code", "msg"), DECIMAL_CASES)
def test_huge_and_over_precise_decimals_are_refused(
    signed_api: ApiClient, path: str, params: dict[str, str], code: int, msg: str
) -> None:
    make_market()
    before = (Order.objects.count(), LedgerTransaction.objects.count(), Hold.objects.count())
    response = signed_api.signed("POST", path, params)
    assert response.status_code == 400, response.content
    assert response.json() == {"code": code, "msg": msg}
    after = (Order.objects.count(), LedgerTransaction.objects.count(), Hold.objects.count())
    assert after == before


def _tiny_market() -> Market:
    """tick x step = 1e-18: a quote budget of 1e10 is 1e28 engine units, beyond both a 28-digit
    Decimal quotient and a bigint (a row written before market_check refused such markets)."""
    market = MarketFactory(  # type: ignore[no-untyped-call]
        base=make_asset("TINY", 18),
        quote=make_asset("DUST", 18),
        tick_size=Decimal("0.000000001"),
        step_size=Decimal("0.000000001"),
        min_price=Decimal("0.000000001"),
        min_qty=Decimal("0.000000001"),
        max_notional=Decimal("100000000000"),
    )
    assert isinstance(market, Market)
    return market


def test_tiny_tick_times_step_is_a_filter_failure_not_a_500(signed_api: ApiClient) -> None:
    _tiny_market()
    response = signed_api.signed(
        "POST",
        "/api/v3/order/test",
        {"symbol": "TINYDUST", "side": "BUY", "type": "MARKET", "quoteOrderQty": "10000000000"},
    )
    assert response.status_code == 400, response.content
    assert response.json() == {"code": -1013, "msg": "Filter failure: NOTIONAL"}
    # A small order on the same market is checked as usual (then refused for funds).
    response = signed_api.signed(
        "POST",
        "/api/v3/order/test",
        {
            "symbol": "TINYDUST",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "1.000000001",
            "price": "10.000000001",
        },
    )
    assert response.status_code == 400, response.content
    assert response.json()["code"] == -2010


def test_internal_error_text_never_reaches_the_client(
    signed_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An InvalidInput (the operators' and the ledger's error) raised under a request is a bug
    in the request's validation: -1000, the text only in the log."""
    make_market()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise InvalidInput("ledger transaction order:1:hold does not balance: {1: 1E-20}")

    monkeypatch.setattr(order_services, "_validate", broken)
    for path in ("/api/v3/order", "/api/v3/order/test"):
        response = signed_api.signed(
            "POST",
            path,
            _order(type="LIMIT", timeInForce="GTC", quantity="1", price="100"),
        )
        assert response.status_code == 500, response.content
        assert response.json() == {"code": -1000, "msg": errors.UNKNOWN}
