"""Unmodified ccxt pro and python-binance on the market streams, against the real processes:
only their URLs are set (contract section 8)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import ccxt.pro
import httpx
import pytest
from binance import AsyncClient, BinanceSocketManager
from django.db import connection

from clearing.tests.helpers import assert_ledger_invariants, assert_orders_accounted
from orders.services import order_place
from tests.burst import burst
from tests.ccxt_config import ccxt_config
from tests.live import LiveStack, Trader
from tests.procs import web_proc
from tests.userstream import closing_promptly

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOL = "BTC/USDT"


def pro_client(stack: LiveStack, trader: Trader | None = None) -> Any:
    """ccxt.pro.binance with every REST family and every WebSocket URL on the local host."""
    ws_base = stack.base_url.replace("http://", "ws://")
    default = ccxt.pro.binance().urls["api"]
    ws: dict[str, Any] = {k: ws_base + "/ws" for k in default["ws"] if k != "ws-api"}
    ws["ws-api"] = {k: ws_base + "/ws-api/v3" for k in default["ws"]["ws-api"]}
    return ccxt.pro.binance(ccxt_config(stack.base_url, trader, ws=ws))


def _closing(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    finally:
        connection.close()  # the thread's own database connection


async def off_loop(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run blocking Django code (orders, bursts) on a worker thread."""
    return await asyncio.to_thread(_closing, fn, *args, **kwargs)


def rest_depth(stack: LiveStack) -> dict[str, Any]:
    r = httpx.get(stack.base_url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 1000})
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def _levels(rows: list[list[Any]]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(str(p)), Decimal(str(q))) for p, q, *_ in rows]


def place(stack: LiveStack, trader: Trader, side: str, price: int, qty: str) -> None:
    order_place(
        user_id=trader.user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force="GTC",
        price=Decimal(price), quantity=Decimal(qty),
    )  # fmt: skip


async def _book_until_equal(ex: Any, stack: LiveStack, timeout: float = 25) -> dict[str, Any]:
    """watch_order_book until ccxt's book equals REST depth (ccxt raises on any gap)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            book = await asyncio.wait_for(ex.watch_order_book(SYMBOL), 1.5)
        except TimeoutError:
            book = ex.orderbooks.get(SYMBOL)
        snap = await asyncio.to_thread(rest_depth, stack)
        if book is not None and book["nonce"] == snap["lastUpdateId"]:
            assert _levels(book["bids"]) == _levels(snap["bids"])
            assert _levels(book["asks"]) == _levels(snap["asks"])
            return snap
        assert time.monotonic() < deadline, "ccxt's book never caught up with REST depth"


def test_ccxt_pro_watch_order_book_through_a_burst(live_stack: LiveStack) -> None:
    stack = live_stack
    for i in range(4):
        place(stack, stack.alice, "BUY", 49950 + i, "0.01")
        place(stack, stack.bob, "SELL", 50050 + i, "0.01")

    async def main() -> None:
        ex = pro_client(stack)
        try:
            await ex.load_markets()
            await ex.watch_order_book(SYMBOL)
            users = [stack.alice.user, stack.bob.user]
            outcomes = await off_loop(burst, users, "BTCUSDT", 160, threads=2, seed=5)
            assert outcomes["place"] > 60 and outcomes["cancel"] > 5
            await _book_until_equal(ex, stack)
        finally:
            await ex.close()

    asyncio.run(main())
    assert_ledger_invariants()
    assert_orders_accounted()


def test_ccxt_pro_watch_trades_ticker_and_ohlcv(live_stack: LiveStack) -> None:
    stack = live_stack

    async def main() -> None:
        ex = pro_client(stack, stack.alice)
        try:
            await ex.load_markets()
            watching = asyncio.create_task(ex.watch_trades(SYMBOL))
            await asyncio.sleep(1)  # subscribed before the trade (a busy machine: see below)
            await ex.create_order(SYMBOL, "limit", "sell", 0.01, 50000)
            await off_loop(place, stack, stack.bob, "BUY", 50000, "0.004")
            done, _ = await asyncio.wait({watching}, timeout=8)
            if not done:  # subscribed after that trade: the next one is seen
                await off_loop(place, stack, stack.bob, "BUY", 50000, "0.004")
            trades = await asyncio.wait_for(watching, 10)
            assert trades[-1]["price"] == 50000 and trades[-1]["amount"] == 0.004
            assert trades[-1]["side"] == "buy"
            rest = await ex.fetch_trades(SYMBOL)
            assert trades[-1]["id"] == rest[-1]["id"]

            ticker = await asyncio.wait_for(ex.watch_ticker(SYMBOL), 10)
            traded = sum(t["amount"] for t in rest)
            assert ticker["last"] == 50000 and ticker["baseVolume"] == traded
            assert ticker["bid"] is None or ticker["bid"] < 50000

            candles = await asyncio.wait_for(ex.watch_ohlcv(SYMBOL, "1m"), 10)
            rest_candles = await ex.fetch_ohlcv(SYMBOL, "1m", limit=1)
            assert candles[-1] == rest_candles[-1]
            assert candles[-1][4] == 50000 and candles[-1][5] > 0
            # The open candle is updated live by the next trade (kline events are states: wait
            # for the one that has it; an older state may still be on its way).
            before = rest_candles[-1]
            updated = asyncio.create_task(ex.watch_ohlcv(SYMBOL, "1m"))
            await asyncio.sleep(0.3)
            await off_loop(place, stack, stack.bob, "BUY", 50000, "0.002")
            deadline = time.monotonic() + 10
            want = pytest.approx(before[5] + 0.002)
            candles = await asyncio.wait_for(updated, 10)
            while not (candles[-1][0] == before[0] and candles[-1][5] == want) and not (
                candles[-1][0] > before[0] and candles[-1][5] == pytest.approx(0.002)
            ):  # the second form: the minute turned meanwhile
                assert time.monotonic() < deadline, f"no live update of the candle: {candles}"
                candles = await asyncio.wait_for(ex.watch_ohlcv(SYMBOL, "1m"), 10)
        finally:
            await ex.close()

    asyncio.run(main())
    assert_ledger_invariants()


def test_python_binance_socket_manager_receives_depth(live_stack: LiveStack) -> None:
    stack = live_stack

    async def main() -> None:
        client = AsyncClient(stack.alice.api_key, stack.alice.secret)
        client.API_URL = stack.base_url + "/api"
        bm = BinanceSocketManager(client)
        bm.STREAM_URL = stack.base_url.replace("http://", "ws://") + "/"
        try:
            async with closing_promptly(bm.depth_socket("BTCUSDT", interval=100)) as socket:
                await asyncio.sleep(0.3)
                await off_loop(place, stack, stack.bob, "SELL", 50100, "0.02")
                msg = await asyncio.wait_for(socket.recv(), 10)
            assert msg["e"] == "depthUpdate" and msg["s"] == "BTCUSDT"
            assert msg["a"] == [["50100.00000000", "0.02000000"]] and msg["U"] <= msg["u"]
            async with closing_promptly(bm.trade_socket("BTCUSDT")) as socket:
                await asyncio.sleep(0.3)
                await off_loop(place, stack, stack.alice, "BUY", 50100, "0.01")
                msg = await asyncio.wait_for(socket.recv(), 10)
            assert msg["e"] == "trade" and msg["p"] == "50100.00000000"
        finally:
            await client.close_connection()

    asyncio.run(main())


def test_reconnect_after_a_web_restart_resumes_with_a_fresh_snapshot(
    live_stack: LiveStack, tmp_path: Any
) -> None:
    stack = live_stack
    place(stack, stack.alice, "BUY", 49990, "0.01")
    port = int(stack.base_url.rsplit(":", 1)[1])

    async def main() -> None:
        ex = pro_client(stack)
        try:
            await ex.load_markets()
            await ex.watch_order_book(SYMBOL)
            web = stack.procs[0]
            web.stop()
            # While the web process is down the book changes: the old view is stale.
            await off_loop(place, stack, stack.bob, "SELL", 50010, "0.03")
            await off_loop(place, stack, stack.alice, "BUY", 49980, "0.02")
            restarted = web_proc(port, tmp_path / "again")
            (tmp_path / "again").mkdir()
            stack.procs[0] = restarted.start()
            deadline = time.monotonic() + 30
            while True:  # ccxt reports the lost connection, then resubscribes on the next call
                try:
                    book = await asyncio.wait_for(ex.watch_order_book(SYMBOL), 3)
                except Exception:  # the client reports the closed connection first
                    book = None
                if book is not None and book["asks"] and book["asks"][0][0] == 50010:
                    break
                assert time.monotonic() < deadline, "never resubscribed"
                await asyncio.sleep(0.2)
            await off_loop(place, stack, stack.bob, "SELL", 50020, "0.01")
            await _book_until_equal(ex, stack)
        finally:
            await ex.close()

    asyncio.run(main())
