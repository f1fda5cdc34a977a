from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import User
from clearing.tests.helpers import assert_ledger_invariants
from orders.errors import OrderRejected
from orders.models import Market, Order
from orders.services import market_set_status, order_cancel, order_place

D = Decimal


def buy(user: User, price: str) -> Order:
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side="BUY", type="LIMIT", time_in_force="GTC",
        price=D(price), quantity=D("0.1"),
    ).order  # fmt: skip


def test_halt_reaches_the_engine_behind_queued_orders_and_cancel_all_expires_them(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    resting = buy(alice, "100")
    queued = buy(alice, "101")  # in the stream, not yet applied, when the operator halts
    market_set_status(market_id=market.id, status="CANCEL_ONLY")
    with pytest.raises(OrderRejected, match="Market is closed"):
        buy(alice, "102")
    drain()
    resting.refresh_from_db()
    queued.refresh_from_db()
    assert resting.status == "NEW" and queued.status == "NEW"  # accepted before the halt

    order_cancel(user_id=alice.id, symbol="BTCUSDT", order_id=resting.id)  # cancels still work
    market_set_status(market_id=market.id, status="HALT", cancel_all=True)
    drain()
    resting.refresh_from_db()
    queued.refresh_from_db()
    assert resting.status == "CANCELED"
    assert queued.status == "EXPIRED"  # ended by the exchange
    market_set_status(market_id=market.id, status="TRADING")
    reopened = buy(alice, "99")
    drain()
    reopened.refresh_from_db()
    assert reopened.status == "NEW"
    assert_ledger_invariants()


def test_admin_status_change_goes_through_the_kill_switch(
    market: Market, redis_client: object, admin_client: Client
) -> None:
    # The market's own page shows the state read-only; the admin changes it on the kill-switch
    # page (reason and confirmation required), which goes through market_set_status.
    data = {"target": "BTCUSDT", "status": "HALT", "reason": "incident 42", "confirm": "yes"}
    resp = admin_client.post("/admin/killswitch/", data)
    assert resp.status_code == 302, resp.content[:2000]
    market.refresh_from_db()
    assert market.status == "HALT"
    entries = redis_client.xrange("stream:orders:BTCUSDT")  # type: ignore[attr-defined]
    assert [e[1][b"c"] for e in entries] == [b'[null,"S",3]']
