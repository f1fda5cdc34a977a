"""The user data streams through unmodified clients against the real processes: ccxt pro
(`watch_orders`, `watch_my_trades`, `watch_balance` over the WebSocket API) and python-binance
(the socket manager's user socket, the listen-key calls)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.ws.websocket_api import WebsocketAPI

from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.redis import get_redis
from tests.ccxt_config import ccxt_config
from tests.live import LiveStack, Trader
from tests.userstream import ws_url
from userdata.publish import listening_users

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOL = "BTC/USDT"


def pro_client(stack: LiveStack, trader: Trader) -> ccxt.pro.binance:
    """ccxt.pro.binance as the contract's section 8 configures it: every REST family and both
    WebSocket URLs local."""
    ws = {
        "spot": ws_url(stack.base_url, "/ws"),
        "ws-api": {"spot": ws_url(stack.base_url, "/ws-api/v3")},
    }
    return ccxt.pro.binance(ccxt_config(stack.base_url, trader, ws=ws))


async def eventually(check: Any, timeout: float = 20) -> Any:
    """Poll `check()` until it returns something truthy (ccxt's caches fill as messages arrive;
    a watch call resolves on the next message only)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


def test_ccxt_pro_watch_orders_my_trades_and_balance(live_stack: LiveStack) -> None:
    async def scenario() -> None:
        alice = pro_client(live_stack, live_stack.alice)
        bob = pro_client(live_stack, live_stack.bob)
        try:
            await alice.load_markets()
            await bob.load_markets()
            # Subscribe first (the subscribe answer comes once the stream is live), then act.
            await alice.authenticate()
            orders_task = asyncio.ensure_future(alice.watch_orders(SYMBOL))
            trades_task = asyncio.ensure_future(alice.watch_my_trades(SYMBOL))
            balance_task = asyncio.ensure_future(alice.watch_balance())
            # The subscription is live once Redis counts a subscriber on alice's channel: the
            # hold's position event (published at acceptance) must not race it.
            alice_id = live_stack.alice.user.id
            await eventually(lambda: listening_users(get_redis(), {alice_id}))
            # Alice's buy rests first: its hold is the only balance change until bob sells, so the
            # balance ccxt resolves with (a dict it mutates in place on later events) is stable.
            buy = await alice.create_limit_buy_order(SYMBOL, 0.004, 50000)
            assert buy["status"] == "open"
            first = await asyncio.wait_for(orders_task, 20)
            assert [o["id"] for o in first] == [buy["id"]]
            assert first[0]["side"] == "buy" and first[0]["type"] == "limit"
            assert first[0]["symbol"] == SYMBOL and first[0]["status"] == "open"
            locked = await asyncio.wait_for(balance_task, 20)
            assert locked["USDT"]["used"] == 200 and locked["USDT"]["free"] == 99800

            sell = await bob.create_limit_sell_order(SYMBOL, 0.01, 50000)
            order = await eventually(
                lambda: next((o for o in alice.orders if o["status"] == "closed"), None)
            )
            assert order["id"] == buy["id"] and order["filled"] == 0.004
            assert all(o["id"] != sell["id"] for o in alice.orders)  # bob's is not alice's

            trades = await asyncio.wait_for(trades_task, 20)
            rest_trades = await alice.fetch_my_trades(SYMBOL)
            assert [t["id"] for t in trades] == [t["id"] for t in rest_trades]
            trade = trades[0]
            assert trade["order"] == buy["id"] and trade["price"] == 50000
            assert trade["amount"] == 0.004 and trade["takerOrMaker"] == "maker"
            assert trade["fee"]["currency"] == "BTC" and trade["fee"]["cost"] == 0.000004

            # Then the settlement: BTC received, the hold gone.
            balance = await eventually(
                lambda: (
                    alice.balance["spot"].get("BTC", {}).get("free", 0) > 10
                    and alice.balance["spot"]
                )
            )
            rest_balance = await alice.fetch_balance()
            assert Decimal(str(balance["BTC"]["free"])) == Decimal("10.003996")
            assert balance["BTC"]["free"] == rest_balance["BTC"]["free"]
            assert balance["USDT"]["free"] == rest_balance["USDT"]["free"] == 99800
            assert balance["USDT"]["used"] == 0
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(scenario())
    assert_ledger_invariants()


def python_binance(stack: LiveStack, trader: Trader) -> AsyncClient:
    client = AsyncClient(trader.api_key, trader.secret)  # the constructor calls no host
    client.API_URL = stack.base_url + "/api"
    client.ws_api = WebsocketAPI(url=ws_url(stack.base_url, "/ws-api/v3"))
    return client


def test_python_binance_user_socket_and_listen_keys(live_stack: LiveStack) -> None:
    async def scenario() -> None:
        bob = python_binance(live_stack, live_stack.bob)
        alice = python_binance(live_stack, live_stack.alice)
        try:
            # The listen-key calls (POST, PUT, DELETE /api/v3/userDataStream).
            key = await bob.stream_get_listen_key()
            assert len(key) == 60
            assert await bob.stream_get_listen_key() == key
            assert await bob.stream_keepalive(key) == {}
            assert await bob.stream_close(key) == {}

            manager = BinanceSocketManager(bob)
            async with manager.user_socket() as socket:
                sell = await bob.order_limit_sell(symbol="BTCUSDT", quantity="0.01", price="50000")
                await alice.order_market_buy(symbol="BTCUSDT", quantity="0.004")
                events: list[dict[str, Any]] = []
                deadline = time.monotonic() + 20
                while not any(e.get("x") == "TRADE" for e in events):
                    assert time.monotonic() < deadline, events
                    events.append(await asyncio.wait_for(socket.recv(), 10))
            reports = [e for e in events if e["e"] == "executionReport"]
            assert [(r["x"], r["X"]) for r in reports] == [
                ("NEW", "NEW"),
                ("TRADE", "PARTIALLY_FILLED"),
            ]
            assert all(r["i"] == sell["orderId"] for r in reports)
            assert reports[1]["l"] == "0.00400000" and reports[1]["m"] is True
        finally:
            await bob.close_connection()
            await alice.close_connection()

    asyncio.run(scenario())
