"""The Binance contract as an unmodified ccxt client sees it, against the real processes."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from clearing.tests.helpers import assert_ledger_invariants
from tests.ccxt_config import ccxt_config
from tests.live import LiveStack, Trader

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOL = "BTC/USDT"


def client(stack: LiveStack, trader: Trader | None = None, **options: object) -> ccxt.binance:
    """ccxt.binance configured as the contract's section 8 shows, every API family local."""
    options = {"fetchOpenOrders": {"warnWithoutSymbol": False}, **options}
    exchange = ccxt.binance(ccxt_config(stack.base_url, trader, options=options))
    exchange.load_markets()
    return exchange


def wait_status(
    ex: ccxt.binance, order_id: str, statuses: set[str], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order: dict[str, Any] = ex.fetch_order(order_id, SYMBOL)
        if order["status"] in statuses or time.monotonic() > deadline:
            return order
        time.sleep(0.1)


def _after_settlement(ex: ccxt.binance, timeout: float = 10) -> dict[str, Any]:
    """The balance once no USDT is held any more (or at the deadline, for the caller to
    assert on)."""
    deadline = time.monotonic() + timeout
    while True:
        balance: dict[str, Any] = ex.fetch_balance()
        if balance["USDT"]["used"] == 0 or time.monotonic() > deadline:
            return balance
        time.sleep(0.1)


def test_markets_book_tickers_and_public_data(live_stack: LiveStack) -> None:
    pub = client(live_stack)
    market = pub.market(SYMBOL)
    assert market["spot"] and market["active"]
    assert Decimal(str(market["precision"]["price"])) == Decimal("0.01")
    assert Decimal(str(market["precision"]["amount"])) == Decimal("0.00001")
    assert market["limits"]["cost"]["min"] == 5

    alice = client(live_stack, live_stack.alice)
    bob = client(live_stack, live_stack.bob)
    alice.create_order(SYMBOL, "limit", "buy", 0.01, 49000)
    sell = bob.create_order(SYMBOL, "limit", "sell", 0.02, 51000)
    wait_status(bob, sell["id"], {"open"})
    book = pub.fetch_order_book(SYMBOL)
    assert book["bids"][0][:2] == [49000.0, 0.01] and book["asks"][0][:2] == [51000.0, 0.02]

    taker = alice.create_order(SYMBOL, "market", "buy", 0.005)
    assert taker["status"] == "closed" and taker["filled"] == 0.005
    trades = pub.fetch_trades(SYMBOL)
    assert trades and trades[-1]["price"] == 51000.0 and trades[-1]["amount"] == 0.005
    ticker = pub.fetch_ticker(SYMBOL)
    assert ticker["last"] == 51000.0 and ticker["bid"] == 49000.0 and ticker["ask"] == 51000.0
    assert SYMBOL in pub.fetch_tickers()
    candles = pub.fetch_ohlcv(SYMBOL, "1m")
    assert candles and candles[-1][4] == 51000.0 and candles[-1][5] == 0.005


def test_order_lifecycle_every_type_and_queries(live_stack: LiveStack) -> None:
    alice = client(live_stack, live_stack.alice)
    bob = client(live_stack, live_stack.bob)
    usdt_before = alice.fetch_balance()["USDT"]["free"]

    resting = alice.create_order(SYMBOL, "limit", "buy", 0.01, 40000)
    assert resting["status"] == "open" and resting["price"] == 40000.0
    assert alice.fetch_balance()["USDT"]["used"] == pytest.approx(400.0)
    assert [o["id"] for o in alice.fetch_open_orders(SYMBOL)] == [resting["id"]]
    canceled = alice.cancel_order(resting["id"], SYMBOL)
    assert canceled["status"] == "canceled"
    assert alice.fetch_open_orders(SYMBOL) == []

    maker = bob.create_order(SYMBOL, "limit", "sell", 0.05, 50000, {"timeInForce": "GTC"})
    wait_status(bob, maker["id"], {"open"})
    ioc = alice.create_order(SYMBOL, "limit", "buy", 0.02, 50000, {"timeInForce": "IOC"})
    assert ioc["status"] == "closed" and ioc["filled"] == 0.02
    fok = alice.create_order(SYMBOL, "limit", "buy", 1, 50000, {"timeInForce": "FOK"})
    assert fok["status"] == "expired" and fok["filled"] == 0
    by_cost = alice.create_order(SYMBOL, "market", "buy", None, None, {"quoteOrderQty": 500})
    assert by_cost["status"] == "closed" and by_cost["cost"] == pytest.approx(500.0)
    post_only = alice.create_order(SYMBOL, "limit", "buy", 0.01, 45000, {"postOnly": True})
    assert post_only["status"] == "open"
    stop = alice.create_order(SYMBOL, "limit", "sell", 0.01, 40000, {"stopLossPrice": 41000})
    assert stop["status"] == "open" and stop["type"] in {"stop_loss_limit", "limit"}

    fills = alice.fetch_my_trades(SYMBOL)
    assert sum(t["amount"] for t in fills) == pytest.approx(0.02 + 0.01)
    assert all(t["fee"]["currency"] == "BTC" for t in fills)
    orders = alice.fetch_orders(SYMBOL)
    assert [o["id"] for o in orders] == sorted((o["id"] for o in orders), key=int)
    assert {o["status"] for o in orders} >= {"canceled", "closed", "expired", "open"}

    canceled_all = alice.cancel_all_orders(SYMBOL)
    assert len(canceled_all) == 2
    assert alice.fetch_open_orders(SYMBOL) == []
    balance = _after_settlement(alice)  # it releases the holds of the finished orders
    assert balance["USDT"]["used"] == 0
    assert balance["USDT"]["free"] == pytest.approx(usdt_before - 0.02 * 50000 - 500, abs=0.01)
    assert_ledger_invariants()


def test_error_classes(live_stack: LiveStack) -> None:
    alice = client(live_stack, live_stack.alice)
    with pytest.raises(ccxt.InsufficientFunds):
        alice.create_order(SYMBOL, "limit", "buy", 10, 50000)
    with pytest.raises(ccxt.InvalidOrder):  # off-tick price; create_order would round it first
        alice.privatePostOrder(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": "50000.001",
            }
        )
    with pytest.raises(ccxt.OrderNotFound):
        alice.fetch_order("999999", SYMBOL)
    with pytest.raises(ccxt.OrderNotFound):
        alice.cancel_order("999999", SYMBOL)
    with pytest.raises(ccxt.BadSymbol):
        alice.publicGetDepth({"symbol": "NOPEUSDT"})

    bob = client(live_stack, live_stack.bob)
    maker = bob.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
    wait_status(bob, maker["id"], {"open"})
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        alice.create_order(SYMBOL, "limit", "buy", 0.01, 50000, {"postOnly": True})

    forged = client(live_stack, Trader(live_stack.alice.user, live_stack.alice.api_key, "wrong"))
    with pytest.raises(ccxt.AuthenticationError):
        forged.fetch_balance()
    stale = client(live_stack, live_stack.alice)
    stale.options["timeDifference"] = 120_000  # the client's clock two minutes behind
    with pytest.raises(ccxt.InvalidNonce):
        stale.fetch_balance()
    assert_ledger_invariants()
