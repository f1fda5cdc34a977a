"""Order endpoints end to end: API -> order services -> stream -> matcher (in-process, in a
background thread) -> verdict -> response. Responses are validated against the OpenAPI schemas."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from orders.models import Market, Order, Trade
from tests.api_client import ApiClient, assert_matches_schema, now_ms

ORDER = "/api/v3/order"
ZERO = "0.00000000"
Funded = Callable[..., Any]
ClientFor = Callable[[Any], ApiClient]


def ok(api: ApiClient, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    response = api.signed(method, path, params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches_schema(method, path, body)
    return body


def fail(api: ApiClient, method: str, path: str, params: dict[str, Any]) -> tuple[int, str]:
    response = api.signed(method, path, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"code", "msg"}
    return body["code"], body["msg"]


def limit(side: str, price: str, qty: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "price": price,
        "quantity": qty,
        **extra,
    }


# Syntax and business errors (no matcher needed) ------------------------------------------------

BASE = limit("BUY", "50000", "0.01")
MANDATORY = "Mandatory parameter '{}' was not sent, was empty/null, or malformed."


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"side": None}, (-1102, MANDATORY.format("side"))),
        ({"side": "HOLD"}, (-1117, "Invalid side.")),
        ({"type": "OCO"}, (-1116, "Invalid orderType.")),
        ({"timeInForce": "GTD"}, (-1115, "Invalid timeInForce.")),
        ({"timeInForce": None}, (-1102, MANDATORY.format("timeInForce"))),
        ({"price": None}, (-1102, MANDATORY.format("price"))),
        ({"quantity": None}, (-1102, MANDATORY.format("quantity"))),
        ({"price": "5e4"}, (-1100, None)),
        ({"type": "LIMIT_MAKER"}, (-1106, "Parameter 'timeInForce' sent when not required.")),
        ({"type": "MARKET", "timeInForce": None}, (-1106, "Parameter 'price' sent when not required.")),  # noqa: E501
        ({"type": "MARKET", "price": None}, (-1106, "Parameter 'timeInForce' sent when not required.")),  # noqa: E501
        ({"type": "MARKET", "price": None, "timeInForce": None, "quoteOrderQty": "10"}, (-1106, "Parameter 'quoteOrderQty' sent when not required.")),  # noqa: E501
        ({"type": "MARKET", "price": None, "timeInForce": None, "quantity": None}, (-1102, MANDATORY.format("quantity"))),  # noqa: E501
        ({"quoteOrderQty": "10"}, (-1106, "Parameter 'quoteOrderQty' sent when not required.")),
        ({"type": "STOP_LOSS_LIMIT"}, (-1102, MANDATORY.format("stopPrice"))),
        ({"stopPrice": "1"}, (-1106, "Parameter 'stopPrice' sent when not required.")),
        ({"icebergQty": "0.001"}, (-1014, "Unsupported order combination.")),
        ({"trailingDelta": "10"}, (-1014, "Unsupported order combination.")),
        ({"newClientOrderId": "bad id!"}, (-1100, None)),
        ({"newClientOrderId": "x" * 37}, (-1100, None)),
        ({"newOrderRespType": "FAST"}, (-1100, None)),
        ({"selfTradePreventionMode": "DECREMENT"}, (-1100, None)),
        ({"symbol": "NOPEUSDT"}, (-1121, "Invalid symbol.")),
        ({"price": "50000.000000001"}, (-1111, "Parameter 'price' has too much precision.")),
        ({"price": "50000.001"}, (-1013, "Filter failure: PRICE_FILTER")),  # off the tick
        ({"price": "0.001"}, (-1013, "Filter failure: PRICE_FILTER")),
        ({"price": "2000000"}, (-1013, "Filter failure: PRICE_FILTER")),
        ({"quantity": "0.000000001"}, (-1111, "Parameter 'quantity' has too much precision.")),
        ({"quantity": "0.000001"}, (-1013, "Filter failure: LOT_SIZE")),
        ({"quantity": "10000"}, (-1013, "Filter failure: LOT_SIZE")),
        ({"quantity": "0.00001"}, (-1013, "Filter failure: NOTIONAL")),
    ],
)  # fmt: skip
def test_new_order_errors(
    signed_api: ApiClient, market: Market, change: dict[str, Any], expected: tuple[int, str | None]
) -> None:
    params = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    code, msg = fail(signed_api, "POST", ORDER, params)
    assert code == expected[0], msg
    if expected[1] is not None:
        assert msg == expected[1]
    assert not Order.objects.exists()


def test_insufficient_funds_and_closed_market(signed_api: ApiClient, market: Market) -> None:
    assert fail(signed_api, "POST", ORDER, BASE) == (
        -2010,
        "Account has insufficient balance for requested action.",
    )
    Market.objects.filter(pk=market.pk).update(status="HALT")
    assert fail(signed_api, "POST", ORDER, BASE) == (-2010, "Market is closed.")
    assert not Order.objects.exists()


def test_order_test_validates_everything_and_creates_nothing(
    api: ApiClient, funded: Funded, client_for: ClientFor
) -> None:
    trader = client_for(funded(usdt="1000"))
    assert ok(trader, "POST", "/api/v3/order/test", BASE) == {}
    code, msg = fail(trader, "POST", "/api/v3/order/test", limit("BUY", "50000", "1"))
    assert (code, msg) == (-2010, "Account has insufficient balance for requested action.")
    assert fail(trader, "POST", "/api/v3/order/test", {**BASE, "side": "X"})[0] == -1117
    assert not Order.objects.exists()


def test_queries_of_nothing(signed_api: ApiClient, market: Market) -> None:
    lookup = {"symbol": "BTCUSDT", "orderId": 999}
    assert fail(signed_api, "GET", ORDER, lookup) == (-2013, "Order does not exist.")
    assert fail(signed_api, "DELETE", ORDER, lookup) == (-2011, "Unknown order sent.")
    assert fail(signed_api, "GET", ORDER, {"symbol": "BTCUSDT"})[0] == -1102
    cancel_all = {"symbol": "BTCUSDT"}
    assert fail(signed_api, "DELETE", "/api/v3/openOrders", cancel_all) == (
        -2011,
        "Unknown order sent.",
    )
    assert ok(signed_api, "GET", "/api/v3/openOrders") == []
    assert ok(signed_api, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}) == []
    assert fail(signed_api, "GET", "/api/v3/openOrders", {"symbol": "NOPE"})[0] == -1121
    assert ok(signed_api, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"}) == []
    assert ok(signed_api, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}) == []
    day_and_a_bit = {"symbol": "BTCUSDT", "startTime": 0, "endTime": 86_400_001}
    assert fail(signed_api, "GET", "/api/v3/allOrders", day_and_a_bit) == (
        -1127,
        "More than 24 hours between startTime and endTime.",
    )
    assert fail(signed_api, "GET", "/api/v3/myTrades", day_and_a_bit)[0] == -1127


def test_no_verdict_in_time_answers_the_accepted_state(
    api: ApiClient, funded: Funded, client_for: ClientFor
) -> None:
    trader = client_for(funded(usdt="1000"))
    with override_settings(API_VERDICT_TIMEOUT=0.2):  # no matcher running
        body = ok(trader, "POST", ORDER, limit("BUY", "50000", "0.01", newClientOrderId="mine-1"))
    assert (body["status"], body["executedQty"], body["fills"]) == ("NEW", ZERO, [])
    assert (body["clientOrderId"], body["orderListId"]) == ("mine-1", -1)
    assert (body["price"], body["origQty"]) == ("50000.00000000", "0.01000000")
    order = Order.objects.get()
    assert order.status == "PENDING_NEW" and body["orderId"] == order.pk
    shown = ok(trader, "GET", ORDER, {"symbol": "BTCUSDT", "origClientOrderId": "mine-1"})
    assert (shown["status"], shown["isWorking"]) == ("NEW", False)  # PENDING_NEW shown as NEW
    assert [o["orderId"] for o in ok(trader, "GET", "/api/v3/openOrders")] == [order.pk]
    # A duplicate client id among open orders.
    assert fail(trader, "POST", ORDER, limit("BUY", "1", "5", newClientOrderId="mine-1")) == (
        -2010,
        "Duplicate order sent.",
    )


def test_ack_does_not_wait_for_the_matcher(
    api: ApiClient, funded: Funded, client_for: ClientFor
) -> None:
    trader = client_for(funded(usdt="1000"))
    started = time.monotonic()
    with override_settings(API_VERDICT_TIMEOUT=5):
        body = ok(trader, "POST", ORDER, limit("BUY", "50000", "0.01", newOrderRespType="ACK"))
    assert time.monotonic() - started < 2
    assert set(body) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    assert len(body["clientOrderId"]) == 22
    assert abs(body["transactTime"] - now_ms()) < 10_000


# With the matcher ---------------------------------------------------------------------------


def test_limit_orders_rest_cross_and_report_fills(
    live_matcher: Any, funded: Funded, client_for: ClientFor
) -> None:
    alice = client_for(funded(usdt="10000"))
    bob = client_for(funded(btc="1"))
    buy = ok(alice, "POST", ORDER, limit("BUY", "50000", "0.1"))
    assert (buy["status"], buy["executedQty"], buy["fills"]) == ("NEW", ZERO, [])
    assert buy["workingTime"] >= buy["transactTime"] > 0
    sell = ok(bob, "POST", ORDER, limit("SELL", "49000", "0.04", newOrderRespType="FULL"))
    assert (sell["status"], sell["executedQty"]) == ("FILLED", "0.04000000")
    assert sell["cummulativeQuoteQty"] == "2000.00000000"  # at the maker's price
    trade = Trade.objects.get()
    assert sell["fills"] == [
        {
            "price": "50000.00000000",
            "qty": "0.04000000",
            "commission": "2.00000000",  # 0.1 % of the USDT received
            "commissionAsset": "USDT",
            "tradeId": trade.pk,
        }
    ]
    result = ok(bob, "POST", ORDER, limit("SELL", "50000", "0.01", newOrderRespType="RESULT"))
    assert "fills" not in result and result["status"] == "FILLED"
    mine = ok(alice, "GET", ORDER, {"symbol": "BTCUSDT", "orderId": buy["orderId"]})
    assert (mine["status"], mine["executedQty"], mine["cummulativeQuoteQty"]) == (
        "PARTIALLY_FILLED",
        "0.05000000",
        "2500.00000000",
    )
    assert (mine["isWorking"], mine["stopPrice"], mine["icebergQty"]) == (True, ZERO, ZERO)
    assert mine["updateTime"] >= mine["time"]
    # Other accounts' orders are invisible.
    assert fail(bob, "GET", ORDER, {"symbol": "BTCUSDT", "orderId": buy["orderId"]})[0] == -2013
    trades = ok(alice, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})
    assert [(t["isBuyer"], t["isMaker"], t["orderId"]) for t in trades] == [
        (True, True, buy["orderId"]),
        (True, True, buy["orderId"]),
    ]
    assert trades[0]["commission"] == "0.00004000" and trades[0]["commissionAsset"] == "BTC"
    bobs = ok(bob, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": sell["orderId"]})
    assert [(t["id"], t["isBuyer"], t["isMaker"]) for t in bobs] == [(trade.pk, False, False)]
    history = ok(alice, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"})
    assert [o["orderId"] for o in history] == [buy["orderId"]]


def test_limit_maker_that_would_take_is_refused(
    live_matcher: Any, funded: Funded, client_for: ClientFor
) -> None:
    alice = client_for(funded(usdt="10000"))
    bob = client_for(funded(btc="1"))
    ok(bob, "POST", ORDER, limit("SELL", "50000", "0.1"))
    maker = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT_MAKER",
        "price": "50000",
        "quantity": "0.01",
    }
    assert fail(alice, "POST", ORDER, maker) == (-2010, "Order would immediately match and take.")
    assert ok(alice, "GET", "/api/v3/openOrders") == []
    # For the client no order was created: not listed, not found.
    assert ok(alice, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"}) == []
    refused = Order.objects.get(status="REJECTED")
    lookup = {"symbol": "BTCUSDT", "orderId": refused.pk}
    assert fail(alice, "GET", ORDER, lookup) == (-2013, "Order does not exist.")
    resting = ok(alice, "POST", ORDER, {**maker, "price": "49999", "newOrderRespType": "RESULT"})
    assert (resting["status"], resting["type"]) == ("NEW", "LIMIT_MAKER")


def test_market_orders(live_matcher: Any, funded: Funded, client_for: ClientFor) -> None:
    alice = client_for(funded(usdt="10000"))
    bob = client_for(funded(btc="1"))
    market = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"}
    empty = ok(alice, "POST", ORDER, {**market, "quoteOrderQty": "100"})
    assert (empty["status"], empty["executedQty"], empty["fills"]) == ("EXPIRED", ZERO, [])
    assert (empty["price"], empty["origQuoteOrderQty"]) == (ZERO, "100.00000000")
    ok(bob, "POST", ORDER, limit("SELL", "50000", "0.1"))
    bought = ok(alice, "POST", ORDER, {**market, "quoteOrderQty": "1000"})
    assert (bought["status"], bought["executedQty"], bought["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.02000000",
        "1000.00000000",
    )
    assert len(bought["fills"]) == 1
    sold = ok(bob, "POST", ORDER, {**market, "side": "SELL", "quantity": "0.01"})
    assert (sold["status"], sold["executedQty"]) == ("EXPIRED", ZERO)  # no bids
    by_qty = ok(alice, "POST", ORDER, {**market, "quantity": "0.01"})
    assert (by_qty["status"], by_qty["executedQty"]) == ("FILLED", "0.01000000")


def test_cancel_and_cancel_all(live_matcher: Any, funded: Funded, client_for: ClientFor) -> None:
    alice = client_for(funded(usdt="10000"))
    a = ok(alice, "POST", ORDER, limit("BUY", "40000", "0.01", newClientOrderId="a-1"))
    b = ok(alice, "POST", ORDER, limit("BUY", "41000", "0.01"))
    c = ok(alice, "POST", ORDER, limit("BUY", "42000", "0.01"))
    report = ok(
        alice,
        "DELETE",
        ORDER,
        {"symbol": "BTCUSDT", "origClientOrderId": "a-1", "newClientOrderId": "cancel-1"},
    )
    assert (report["orderId"], report["status"]) == (a["orderId"], "CANCELED")
    assert (report["origClientOrderId"], report["clientOrderId"]) == ("a-1", "cancel-1")
    assert (report["price"], report["origQty"], report["executedQty"]) == (
        "40000.00000000",
        "0.01000000",
        ZERO,
    )
    open_ids = [o["orderId"] for o in ok(alice, "GET", "/api/v3/openOrders")]
    assert open_ids == [b["orderId"], c["orderId"]]  # gone once the answer says CANCELED
    again = {"symbol": "BTCUSDT", "orderId": a["orderId"]}
    assert fail(alice, "DELETE", ORDER, again) == (-2011, "Unknown order sent.")
    assert ok(alice, "GET", ORDER, again)["status"] == "CANCELED"
    # python-binance sends DELETE parameters in the body.
    response = alice.signed("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, in_body=True)
    assert response.status_code == 200
    reports = response.json()
    assert_matches_schema("DELETE", "/api/v3/openOrders", reports)
    assert sorted(r["orderId"] for r in reports) == [b["orderId"], c["orderId"]]
    assert {r["status"] for r in reports} == {"CANCELED"}
    assert ok(alice, "GET", "/api/v3/openOrders") == []
    statuses = [o["status"] for o in ok(alice, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"})]
    assert statuses == ["CANCELED"] * 3


def test_self_trade_shows_once_per_side(
    live_matcher: Any, funded: Funded, client_for: ClientFor
) -> None:
    alice = client_for(funded(usdt="10000", btc="1"))
    sell = ok(alice, "POST", ORDER, limit("SELL", "50000", "0.01"))
    buy = ok(alice, "POST", ORDER, limit("BUY", "50000", "0.01"))
    assert buy["status"] == "FILLED"
    rows = ok(alice, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"})
    assert [(r["orderId"], r["isBuyer"], r["isMaker"]) for r in rows] == [
        (buy["orderId"], True, False),
        (sell["orderId"], False, True),
    ]
    assert rows[0]["id"] == rows[1]["id"]


def test_cancel_replace(live_matcher: Any, funded: Funded, client_for: ClientFor) -> None:
    alice = client_for(funded(usdt="10000"))
    old = ok(alice, "POST", ORDER, limit("BUY", "40000", "0.01"))
    params = {
        **limit("BUY", "41000", "0.02"),
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrderId": old["orderId"],
        "cancelNewClientOrderId": "cr-cancel",
    }
    body = ok(alice, "POST", "/api/v3/order/cancelReplace", params)
    assert (body["cancelResult"], body["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert body["cancelResponse"]["orderId"] == old["orderId"]
    assert body["cancelResponse"]["status"] == "CANCELED"
    assert body["cancelResponse"]["clientOrderId"] == "cr-cancel"
    new_id = body["newOrderResponse"]["orderId"]
    assert body["newOrderResponse"]["status"] == "NEW"
    assert [o["orderId"] for o in ok(alice, "GET", "/api/v3/openOrders")] == [new_id]
    # The order to cancel is gone: nothing happens, -2022 with the per-side outcome.
    params["cancelOrderId"] = old["orderId"]
    response = alice.signed("POST", "/api/v3/order/cancelReplace", params)
    assert response.status_code == 400
    assert response.json() == {
        "code": -2022,
        "msg": "Order cancel-replace failed.",
        "data": {
            "cancelResult": "FAILURE",
            "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
            "newOrderResponse": None,
        },
    }
    # ALLOW_FAILURE: the new order is placed although the cancel failed (-2021, HTTP 409).
    response = alice.signed(
        "POST", "/api/v3/order/cancelReplace", {**params, "cancelReplaceMode": "ALLOW_FAILURE"}
    )
    assert response.status_code == 409
    data = response.json()["data"]
    assert (response.json()["code"], data["cancelResult"], data["newOrderResult"]) == (
        -2021,
        "FAILURE",
        "SUCCESS",
    )
    assert data["newOrderResponse"]["status"] == "NEW"
    assert len(ok(alice, "GET", "/api/v3/openOrders")) == 2


def test_amend_keep_priority(live_matcher: Any, funded: Funded, client_for: ClientFor) -> None:
    alice = client_for(funded(usdt="10000"))
    order = ok(alice, "POST", ORDER, limit("BUY", "40000", "0.05"))
    amend = "/api/v3/order/amend/keepPriority"
    body = ok(
        alice, "PUT", amend, {"symbol": "BTCUSDT", "orderId": order["orderId"], "newQty": "0.02"}
    )
    amended = body["amendedOrder"]
    assert (amended["orderId"], amended["qty"], amended["status"]) == (
        order["orderId"],
        "0.02000000",
        "NEW",
    )
    current = ok(alice, "GET", ORDER, {"symbol": "BTCUSDT", "orderId": order["orderId"]})
    assert current["origQty"] == "0.02000000"
    code, _ = fail(
        alice, "PUT", amend, {"symbol": "BTCUSDT", "orderId": order["orderId"], "newQty": "0.03"}
    )
    assert code == -2038
    unknown = {"symbol": "BTCUSDT", "orderId": order["orderId"] + 100, "newQty": "0.01"}
    assert fail(alice, "PUT", amend, unknown) == (-2011, "Unknown order sent.")
    assert fail(alice, "PUT", amend, {**unknown, "newClientOrderId": "x"})[0] == -1014


def test_order_amounts_use_decimal_strings_only(
    live_matcher: Any, funded: Funded, client_for: ClientFor
) -> None:
    alice = client_for(funded(usdt="10000"))
    response = alice.signed("POST", ORDER, limit("BUY", "12345.67", "0.00123"))
    body = response.json()  # parse_float=Decimal: a float would show up as a Decimal
    assert not any(isinstance(v, Decimal) for v in body.values())
    assert body["price"] == "12345.67000000"
