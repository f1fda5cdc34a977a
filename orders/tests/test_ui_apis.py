"""The UI's order endpoints (/ui/api/markets/<symbol>/...): the Binance API's services behind a
session; refusals as {"code", "msg"} that change nothing; a matcher (in a thread, same code as
run_matcher) gives the verdicts the commands wait for."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from clearing.models import Hold
from clearing.settlement import market_settle
from clearing.tests.helpers import assert_ledger_invariants, assert_orders_accounted
from matching.worker import Matcher
from orders.models import Market, Order
from orders.tests.conftest import matcher_running

URL = "/ui/api/markets/BTCUSDT/"


@pytest.fixture
def running(matcher: Matcher, market: Market) -> Iterator[None]:
    with matcher_running(matcher):
        yield


def _client(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _post(c: Client, url: str, body: Any) -> Any:
    return c.post(url, data=json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (
            {"side": "BUY", "type": "LIMIT", "price": "100.001", "quantity": "1"},
            -1013,
            "PRICE_FILTER",
        ),
        (
            {"side": "BUY", "type": "LIMIT", "price": "100", "quantity": "500"},
            -2010,
            "insufficient",
        ),
        ({"side": "BUY", "type": "LIMIT", "quantity": "1"}, -1102, "price"),
        ({"side": "BUY", "type": "ICEBERG", "price": "1", "quantity": "1"}, -1100, "Order type"),
        ({"side": "BUY", "type": "LIMIT", "price": "1e2", "quantity": "1"}, -1100, "plain decimal"),
        ({"side": "UP", "type": "LIMIT", "price": "100", "quantity": "1"}, -1100, "BUY or SELL"),
    ],
)
def test_refusals_are_words_and_change_nothing(
    funded: Callable[..., User], body: dict[str, Any], code: int, words: str
) -> None:
    user = funded(usdt="1000")
    resp = _post(_client(user), URL + "orders", body)
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == code and words.lower() in resp.json()["msg"].lower()
    assert not Order.objects.filter(user=user).exists()
    assert_ledger_invariants()


def test_place_list_cancel_all_through_the_matcher(
    funded: Callable[..., User], market: Market, running: None
) -> None:
    alice, bob = funded(usdt="10000"), funded(btc="5")
    a = _client(alice)
    placed = _post(
        a, URL + "orders", {"side": "BUY", "type": "LIMIT", "price": "100", "quantity": "2"}
    )
    assert placed.status_code == 201, placed.content
    assert placed.json()["status"] == "NEW" and placed.json()["price"] == "100.00000000"
    second = _post(
        a, URL + "orders", {"side": "BUY", "type": "LIMIT", "price": "99", "quantity": "1"}
    )
    assert second.status_code == 201
    assert [o["price"] for o in a.get(URL + "orders").json()] == ["100.00000000", "99.00000000"]

    sold = _post(
        _client(bob), URL + "orders", {"side": "SELL", "type": "MARKET", "quantity": "0.5"}
    )
    assert sold.status_code == 201 and sold.json()["status"] == "FILLED"
    assert [f["qty"] for f in sold.json()["fills"]] == ["0.50000000"]

    mine = a.get(URL + "trades").json()
    assert [(t["isBuyer"], t["qty"], t["isMaker"]) for t in mine] == [(True, "0.50000000", True)]
    one = a.delete(URL + f"orders/{second.json()['orderId']}")
    assert one.status_code == 200 and one.json()["status"] == "CANCELED"
    rest = a.delete(URL + "orders")
    assert [(o["orderId"], o["status"]) for o in rest.json()] == [
        (placed.json()["orderId"], "CANCELED")
    ]
    assert a.get(URL + "orders").json() == []
    history = a.get(URL + "history").json()
    assert [o["status"] for o in history] == ["CANCELED", "CANCELED"]  # newest first
    assert a.delete(URL + "orders").json()["code"] == -2011  # nothing left to cancel

    market_settle(market_id=market.id)
    assert not Hold.objects.filter(released_at__isnull=True, order__user=alice).exists()
    assert_orders_accounted()
    assert_ledger_invariants()


def test_someone_elses_order_is_unknown(funded: Callable[..., User], running: None) -> None:
    alice, mallory = funded(usdt="1000"), funded(usdt="1000")
    order = _post(
        _client(alice),
        URL + "orders",
        {"side": "BUY", "type": "LIMIT", "price": "10", "quantity": "1"},
    ).json()
    resp = _client(mallory).delete(URL + f"orders/{order['orderId']}")
    assert resp.status_code == 400 and resp.json()["code"] == -2011
    assert Order.objects.get(pk=order["orderId"]).status in ("NEW", "PENDING_NEW")
    assert _client(mallory).get(URL + "orders").json() == []


def test_trading_page_carries_the_market_configuration(funded: Callable[..., User]) -> None:
    page = _client(funded(usdt="1")).get("/trade/BTCUSDT/").content.decode()
    config = json.loads(
        page.split('id="market-config" type="application/json">')[1].split("</script>")[0]
    )
    assert config["symbol"] == "BTCUSDT" and config["priceDecimals"] == 2
    assert Decimal(config["stepSize"]) > 0
    assert Client().get("/trade/BTCUSDT/").status_code == 302  # log in first
    assert _client(funded(usdt="1")).get("/trade/NOPE/").status_code == 404
