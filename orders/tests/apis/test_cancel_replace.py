"""cancelReplace outcomes side by side (orders.outcomes.order_cancel_replace_decided, rendered by
orders.apis.render.cancel_replace): which side succeeded, failed or was not attempted, and the
answer that follows (both: 200; one: -2021, HTTP 409; none: -2022, HTTP 400)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from clearing.tests.helpers import assert_ledger_invariants
from orders.models import Order
from tests.api_client import ApiClient

from .test_order_apis import ORDER, ClientFor, Funded, limit, ok

CR = "/api/v3/order/cancelReplace"
WOULD_TAKE = {"code": -2010, "msg": "Order would immediately match and take."}
UNKNOWN = {"code": -2011, "msg": "Unknown order sent."}
MAKER_THAT_TAKES = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT_MAKER",
    "price": "50000",
    "quantity": "0.001",
}


def answer(api: ApiClient, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.signed("POST", CR, params)
    body: dict[str, Any] = response.json()
    return response.status_code, body


def sides(body: dict[str, Any]) -> tuple[str, str]:
    return body["data"]["cancelResult"], body["data"]["newOrderResult"]


def test_cancel_replace_outcomes(live_matcher: Any, funded: Funded, client_for: ClientFor) -> None:
    alice = client_for(funded(usdt="10000"))
    bob = client_for(funded(btc="1"))
    ok(bob, "POST", ORDER, limit("SELL", "50000", "0.1"))
    old = ok(alice, "POST", ORDER, limit("BUY", "40000", "0.01"))
    stop = {"cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": old["orderId"]}
    nothing_to_cancel = {"cancelReplaceMode": "ALLOW_FAILURE", "cancelOrderId": old["orderId"] + 1}

    # A new order that fails validation: the cancel is not attempted.
    status, body = answer(alice, {**limit("BUY", "40000.001", "0.01"), **stop})
    assert (status, body["code"], body["msg"]) == (400, -2022, "Order cancel-replace failed.")
    assert body["data"] == {
        "cancelResult": "NOT_ATTEMPTED",
        "newOrderResult": "FAILURE",
        "cancelResponse": None,
        "newOrderResponse": {"code": -1013, "msg": "Filter failure: PRICE_FILTER"},
    }
    # An error of the request as a whole is answered as it is.
    status, body = answer(alice, {**limit("BUY", "40000", "0.01"), **stop, "symbol": "NOPEUSDT"})
    assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert [o["orderId"] for o in ok(alice, "GET", "/api/v3/openOrders")] == [old["orderId"]]

    # ALLOW_FAILURE with nothing to cancel: the new order alone fails at acceptance...
    status, body = answer(alice, {**limit("BUY", "40000", "1"), **nothing_to_cancel})
    assert (status, body["code"], sides(body)) == (400, -2022, ("FAILURE", "FAILURE"))
    assert body["data"]["cancelResponse"] == UNKNOWN
    assert body["data"]["newOrderResponse"] == {
        "code": -2010,
        "msg": "Account has insufficient balance for requested action.",
    }
    # ... or in the engine.
    status, body = answer(alice, {**MAKER_THAT_TAKES, **nothing_to_cancel})
    assert (status, body["code"], sides(body)) == (400, -2022, ("FAILURE", "FAILURE"))
    assert (body["data"]["cancelResponse"], body["data"]["newOrderResponse"]) == (
        UNKNOWN,
        WOULD_TAKE,
    )

    # Both sides reach the engine: the cancel applies, the new order is refused there.
    status, body = answer(alice, {**MAKER_THAT_TAKES, **stop, "cancelNewClientOrderId": "cr-1"})
    assert (status, body["code"], body["msg"]) == (
        409,
        -2021,
        "Order cancel-replace partially failed.",
    )
    assert sides(body) == ("SUCCESS", "FAILURE")
    report = body["data"]["cancelResponse"]
    assert (report["orderId"], report["status"], report["clientOrderId"]) == (
        old["orderId"],
        "CANCELED",
        "cr-1",
    )
    assert body["data"]["newOrderResponse"] == WOULD_TAKE
    assert ok(alice, "GET", "/api/v3/openOrders") == []

    # Both succeed, FULL: the new order's fills.
    again = ok(alice, "POST", ORDER, limit("BUY", "40000", "0.01"))
    full = limit("BUY", "50000", "0.002", newOrderRespType="FULL")
    body = ok(alice, "POST", CR, {**full, **stop, "cancelOrderId": again["orderId"]})
    assert (body["cancelResult"], body["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    new = body["newOrderResponse"]
    assert (new["status"], [(f["price"], f["qty"]) for f in new["fills"]]) == (
        "FILLED",
        [("50000.00000000", "0.00200000")],
    )
    assert_ledger_invariants()


def test_cancel_replace_without_verdict(
    api: ApiClient, funded: Funded, client_for: ClientFor
) -> None:
    trader = client_for(funded(usdt="10000"))
    with override_settings(API_VERDICT_TIMEOUT=0.2):  # no matcher running
        old = ok(trader, "POST", ORDER, limit("BUY", "40000", "0.01", newOrderRespType="ACK"))
        # Both sides submitted, no verdict: the outcome is unknown (-1007, HTTP 503).
        status, body = answer(
            trader,
            {
                **limit("BUY", "41000", "0.01"),
                "cancelReplaceMode": "STOP_ON_FAILURE",
                "cancelOrderId": old["orderId"],
            },
        )
        assert (status, body["code"]) == (503, -1007)
        # ALLOW_FAILURE with nothing to cancel: the new order as accepted (NEW, no fills).
        status, body = answer(
            trader,
            {
                **limit("BUY", "42000", "0.01", newOrderRespType="FULL"),
                "cancelReplaceMode": "ALLOW_FAILURE",
                "cancelOrderId": old["orderId"] + 100,
            },
        )
    assert (status, body["code"], sides(body)) == (409, -2021, ("FAILURE", "SUCCESS"))
    new = body["data"]["newOrderResponse"]
    assert (new["status"], new["executedQty"], new["fills"]) == ("NEW", "0.00000000", [])
    assert_ledger_invariants()


@pytest.mark.parametrize(
    ("mode", "status", "code", "new_result"),
    [("STOP_ON_FAILURE", 400, -2022, "NOT_ATTEMPTED"), ("ALLOW_FAILURE", 409, -2021, "SUCCESS")],
)
def test_the_engine_finds_nothing_to_cancel(
    drain: Callable[[], None],
    funded: Funded,
    client_for: ClientFor,
    mode: str,
    status: int,
    code: int,
    new_result: str,
) -> None:
    """The order to cancel is open when the request is accepted, but filled in the engine by a
    command ahead of it in the stream: the engine's cancel fails (STOP_ON_FAILURE: the new
    order is not attempted; ALLOW_FAILURE: it is placed)."""
    alice = client_for(funded(usdt="10000"))
    bob = client_for(funded(btc="1"))
    answered: list[tuple[int, dict[str, Any]]] = []
    with override_settings(API_VERDICT_TIMEOUT=30):
        old = ok(alice, "POST", ORDER, limit("BUY", "50000", "0.01", newOrderRespType="ACK"))
        ok(bob, "POST", ORDER, limit("SELL", "50000", "0.01", newOrderRespType="ACK"))
        params = {**limit("BUY", "40000", "0.01"), "cancelReplaceMode": mode}
        request = threading.Thread(
            target=lambda: answered.append(
                answer(alice, {**params, "cancelOrderId": old["orderId"]})
            )
        )
        request.start()
        deadline = time.monotonic() + 10
        while Order.objects.count() < 3 and time.monotonic() < deadline:  # accepted, waiting
            time.sleep(0.01)
        drain()  # the matcher applies: alice's buy, bob's sell (fills it), the cancel-replace
        request.join(30)
    [(got_status, body)] = answered
    assert (got_status, body["code"], sides(body)) == (status, code, ("FAILURE", new_result))
    assert body["data"]["cancelResponse"] == UNKNOWN
    assert Order.objects.get(pk=old["orderId"]).status == "FILLED"
    assert_ledger_invariants()
