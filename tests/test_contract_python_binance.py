"""The same basics through python-binance, unmodified, against the real processes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from clearing.tests.helpers import assert_ledger_invariants
from tests.live import LiveStack, Trader

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _close_client_loop() -> Iterator[None]:
    """python-binance's sync Client makes and sets an event loop when the thread has none (after
    any asyncio.run) and never closes it; the next asyncio.run drops it unclosed, and its
    ResourceWarning fails whichever later test the garbage collector runs in. Close it here."""
    yield
    with contextlib.suppress(RuntimeError):
        asyncio.get_event_loop_policy().get_event_loop().close()
    asyncio.set_event_loop(None)


def client(stack: LiveStack, trader: Trader) -> Client:
    c = Client(trader.api_key, trader.secret, ping=False)  # ping=False: no call to the real host
    c.API_URL = stack.base_url + "/api"
    return c


def test_python_binance_basics(live_stack: LiveStack) -> None:
    alice, bob = client(live_stack, live_stack.alice), client(live_stack, live_stack.bob)
    assert alice.ping() == {}
    assert abs(alice.get_server_time()["serverTime"] - time.time() * 1000) < 5000
    info = alice.get_symbol_info("BTCUSDT")
    assert info["status"] == "TRADING" and info["baseAsset"] == "BTC"

    sell = bob.order_limit_sell(symbol="BTCUSDT", quantity="0.01", price="50000")
    assert sell["status"] in {"NEW", "PARTIALLY_FILLED"}
    book = alice.get_order_book(symbol="BTCUSDT")
    assert book["asks"][0] == ["50000.00000000", "0.01000000"]
    buy = alice.order_market_buy(symbol="BTCUSDT", quantity="0.004")
    assert buy["status"] == "FILLED" and buy["fills"][0]["price"] == "50000.00000000"
    assert Decimal(buy["fills"][0]["commission"]) == Decimal("0.000004")

    order = bob.get_order(symbol="BTCUSDT", orderId=sell["orderId"])
    assert order["status"] == "PARTIALLY_FILLED" and order["executedQty"] == "0.00400000"
    assert [o["orderId"] for o in bob.get_open_orders(symbol="BTCUSDT")] == [sell["orderId"]]
    canceled = bob.cancel_order(symbol="BTCUSDT", orderId=sell["orderId"])
    assert canceled["status"] == "CANCELED"
    assert bob.get_open_orders(symbol="BTCUSDT") == []

    trades = alice.get_my_trades(symbol="BTCUSDT")
    assert len(trades) == 1 and trades[0]["isBuyer"] and not trades[0]["isMaker"]
    assert alice.get_recent_trades(symbol="BTCUSDT")[-1]["price"] == "50000.00000000"
    assert alice.get_klines(symbol="BTCUSDT", interval="1m")[-1][4] == "50000.00000000"
    assert alice.get_ticker(symbol="BTCUSDT")["lastPrice"] == "50000.00000000"
    # Settlement runs on the worker: poll the account until it has (bounded), then check.
    deadline = time.monotonic() + 30
    while True:
        balances = {b["asset"]: b for b in alice.get_account()["balances"]}
        if Decimal(balances["BTC"]["free"]) != Decimal(10) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert Decimal(balances["BTC"]["free"]) == Decimal("10.003996")

    with pytest.raises(BinanceAPIException) as exc:
        alice.get_order(symbol="BTCUSDT", orderId=123456789)
    assert exc.value.code == -2013
    with pytest.raises(BinanceAPIException) as exc:
        alice.order_limit_buy(symbol="BTCUSDT", quantity="100", price="50000")
    assert exc.value.code == -2010
    assert_ledger_invariants()
