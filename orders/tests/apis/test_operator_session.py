"""An operator logs in to the back office, halts a market on the kill switch page (reason and
confirmation), and the REST API then refuses orders with Binance's error; exchangeInfo and the
metrics show the state; resuming reopens the market."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import Client

from accounts.models import User
from admin_rbac.models import AuditEntry
from admin_rbac.services import Actor, roles_assign
from orders.models import Market, Order
from tests.api_client import ApiClient

ORDER = "/api/v3/order"
BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
       "price": "50000", "quantity": "0.01"}  # fmt: skip


def _symbol_status(api: ApiClient) -> str:
    response = api.get("/api/v3/exchangeInfo", {"symbol": "BTCUSDT"})
    assert response.status_code == 200, response.content
    status = response.json()["symbols"][0]["status"]
    assert isinstance(status, str)
    return status


def _kill_switch(browser: Client, **fields: str) -> str:
    """Review, then confirm, as the page's two buttons do; return the confirmation text."""
    review = browser.post("/admin/killswitch/", fields)
    assert review.status_code == 200
    page = review.content.decode()
    assert 'id="confirm-box"' in page
    done = browser.post("/admin/killswitch/", {**fields, "confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == "/admin/killswitch/"
    return page


def test_operator_halts_a_market_and_rest_orders_are_refused(
    market: Market, funded: Callable[..., User], client_for: Callable[[Any], ApiClient],
    live_matcher: Any,
) -> None:  # fmt: skip
    alice = client_for(funded(usdt="10000"))
    assert alice.signed("POST", ORDER, BUY).status_code == 200  # trading before the cut
    assert _symbol_status(alice) == "TRADING"

    operator = User.objects.create_user("rita", password="Risk-operator-1")
    roles_assign(user=operator, roles=["risk"], actor=Actor.system("test"))
    browser = Client(REMOTE_ADDR="198.51.100.4")
    login = browser.post(
        "/admin/login/?next=/admin/", {"username": "rita", "password": "Risk-operator-1"}
    )
    assert login.status_code == 302 and login["Location"] == "/admin/"
    assert "Kill switch" in browser.get("/admin/").content.decode()

    page = _kill_switch(browser, target="BTCUSDT", status="HALT", reason="exchange incident 7")
    assert "Set BTCUSDT from TRADING to HALT" in page
    assert Market.objects.get(pk=market.pk).status == "HALT"

    refused = alice.signed("POST", ORDER, BUY)
    assert refused.status_code == 400
    assert refused.json() == {"code": -2010, "msg": "Market is closed."}
    assert Order.objects.count() == 1
    assert _symbol_status(alice) == "HALT"
    # /metrics answers the scraper's address (METRICS_ALLOWED_IPS), not the operator's browser.
    assert browser.get("/metrics").status_code == 404
    metrics = Client(REMOTE_ADDR="127.0.0.1").get("/metrics").content.decode()
    assert 'exchange_market_trading_state{market="BTCUSDT"} 3.0' in metrics

    entry = AuditEntry.objects.get(action="market.set_status")
    assert (entry.actor_id, entry.ip, entry.reason) == (
        operator.pk,
        "198.51.100.4",
        "exchange incident 7",
    )
    assert entry.before == {"status": "TRADING", "operator_status": "TRADING"}

    _kill_switch(browser, target="BTCUSDT", status="TRADING", reason="incident over")
    assert alice.signed("POST", ORDER, BUY).status_code == 200
    assert _symbol_status(alice) == "TRADING"


def test_a_viewer_sees_the_kill_switch_but_cannot_use_it(market: Market) -> None:
    viewer = User.objects.create_user("vic", password="Viewer-pass-1")
    roles_assign(user=viewer, roles=["viewer"], actor=Actor.system("test"))
    browser = Client()
    browser.force_login(viewer)
    page = browser.get("/admin/killswitch/")
    assert page.status_code == 200 and "needs the <b>risk</b> role" in page.content.decode()
    fields = {"target": "BTCUSDT", "status": "HALT", "reason": "x", "confirm": "yes"}
    assert browser.post("/admin/killswitch/", fields).status_code == 403
    assert Market.objects.get(pk=market.pk).status == "TRADING"
    assert not AuditEntry.objects.filter(action="market.set_status").exists()
