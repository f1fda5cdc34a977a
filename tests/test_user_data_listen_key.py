"""Listen keys and the /ws/<listenKey> stream against the real processes (contract 7.4)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from clearing.tests.helpers import assert_ledger_invariants
from tests.live import LiveStack
from tests.userstream import collect_until, listen_key, next_json, rest, silent_for, ws_url

pytestmark = pytest.mark.django_db(transaction=True)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def reports(messages: list[Any], order_id: int) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("e") == "executionReport" and m["i"] == order_id]


def test_listen_key_stream_carries_order_events(live_stack: LiveStack) -> None:
    stack, alice, bob = live_stack, live_stack.alice, live_stack.bob

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
            key_a = await listen_key(http, alice)
            key_b = await listen_key(http, bob)
            assert len(key_a) == 60 and key_a.isalnum() and key_a != key_b
            # The same key while it is valid (Binance).
            assert await listen_key(http, alice) == key_a
            async with (
                connect(ws_url(stack.base_url, f"/ws/{key_a}")) as ws_a,
                connect(ws_url(stack.base_url, f"/ws/{key_b}")) as ws_b,
            ):
                sell = await rest(
                    http, "POST", "/api/v3/order", bob, symbol="BTCUSDT", side="SELL",
                    type="LIMIT", timeInForce="GTC", quantity="0.01", price="50000",
                    newClientOrderId="bob-sell-1",
                )  # fmt: skip
                assert sell.status_code == 200, sell.text
                sell_id = sell.json()["orderId"]
                buy = await rest(
                    http, "POST", "/api/v3/order", alice, symbol="BTCUSDT", side="BUY",
                    type="LIMIT", timeInForce="GTC", quantity="0.004", price="50000",
                )  # fmt: skip
                assert buy.status_code == 200, buy.text
                buy_id = buy.json()["orderId"]

                got_b = await collect_until(
                    ws_b,
                    lambda ms: (
                        len(reports(ms, sell_id)) >= 2
                        and any(m.get("e") == "outboundAccountPosition" for m in ms)
                    ),
                )
                new, fill = reports(got_b, sell_id)[:2]
                assert (new["x"], new["X"], new["c"], new["s"]) == ("NEW", "NEW", "bob-sell-1",
                                                                     "BTCUSDT")  # fmt: skip
                assert (new["S"], new["o"], new["f"], new["q"], new["p"]) == (
                    "SELL",
                    "LIMIT",
                    "GTC",
                    "0.01000000",
                    "50000.00000000",
                )
                assert (fill["x"], fill["X"], fill["l"], fill["z"], fill["L"]) == (
                    "TRADE",
                    "PARTIALLY_FILLED",
                    "0.00400000",
                    "0.00400000",
                    "50000.00000000",
                )
                assert fill["m"] is True and fill["N"] == "USDT" and fill["t"] > 0
                assert Decimal(fill["n"]) == Decimal("0.2")  # 0.1 % of 200 USDT
                assert fill["Z"] == "200.00000000" and fill["Y"] == "200.00000000"

                got_a = await collect_until(
                    ws_a,
                    lambda ms: (
                        len(reports(ms, buy_id)) >= 2
                        and any(m.get("e") == "outboundAccountPosition" for m in ms)
                    ),
                )
                new_a, fill_a = reports(got_a, buy_id)[:2]
                assert new_a["x"] == "NEW"
                assert (fill_a["x"], fill_a["X"], fill_a["m"], fill_a["N"]) == (
                    "TRADE",
                    "FILLED",
                    False,
                    "BTC",
                )
                assert fill_a["t"] == fill["t"]
                # No one else's events on alice's stream.
                assert not reports(got_a, sell_id)

                # The settlement's position: alice holds 10.004 BTC less the fee.
                position = await collect_until(
                    ws_a,
                    lambda ms: any(
                        m.get("e") == "outboundAccountPosition"
                        and any(b["a"] == "BTC" for b in m["B"])
                        for m in ms
                    ),
                )
                balances = {
                    b["a"]: b
                    for m in got_a + position
                    if m.get("e") == "outboundAccountPosition"
                    for b in m["B"]
                }
                assert Decimal(balances["BTC"]["f"]) == Decimal("10.003996")

                cancel = await rest(
                    http, "DELETE", "/api/v3/order", bob, symbol="BTCUSDT", orderId=sell_id
                )
                assert cancel.status_code == 200, cancel.text
                got = await collect_until(
                    ws_b, lambda ms: any(m.get("x") == "CANCELED" for m in ms)
                )
                canceled = next(m for m in got if m.get("x") == "CANCELED")
                assert (canceled["X"], canceled["C"], canceled["z"]) == (
                    "CANCELED",
                    "bob-sell-1",
                    "0.00400000",
                )
                # The web process's metrics count what it sent, how long after the commit.
                metrics = (await http.get("/metrics")).text
                sent = 'exchange_userdata_messages_out_total{kind="listen_key"}'
                assert metric(metrics, sent) >= len(got_a) + len(got_b)
                assert metric(metrics, "exchange_userdata_commit_to_send_seconds_count") >= 6
                assert metric(metrics, 'exchange_userdata_sockets{kind="listen_key"}') == 2

    asyncio.run(scenario())
    assert_ledger_invariants()


def test_listen_key_lifecycle_and_errors(live_stack: LiveStack) -> None:
    stack, alice, bob = live_stack, live_stack.alice, live_stack.bob

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
            path = "/api/v3/userDataStream"
            # No key header: -2014; an unknown key: -2015.
            resp = await http.post(path)
            assert (resp.status_code, resp.json()["code"]) == (401, -2014)
            resp = await http.post(path, headers={"X-MBX-APIKEY": "x" * 64})
            assert (resp.status_code, resp.json()["code"]) == (401, -2015)

            key = await listen_key(http, alice)
            head_a = {"X-MBX-APIKEY": alice.api_key}
            head_b = {"X-MBX-APIKEY": bob.api_key}
            # Keepalive: as python-binance sends it (body) and in the query string.
            resp = await http.put(path, data={"listenKey": key}, headers=head_a)
            assert (resp.status_code, resp.json()) == (200, {})
            resp = await http.put(f"{path}?listenKey={key}", headers=head_a)
            assert resp.status_code == 200
            # Missing parameter, another user's key, a made-up key.
            resp = await http.put(path, headers=head_a)
            assert resp.json()["code"] == -1102
            for headers, value in ((head_b, key), (head_a, "0" * 60)):
                resp = await http.put(path, data={"listenKey": value}, headers=headers)
                assert (resp.status_code, resp.json()) == (
                    400,
                    {"code": -1125, "msg": "This listenKey does not exist."},
                )
            resp = await http.put(path, data={"listenKey": "short"}, headers=head_a)
            assert resp.json()["code"] == -1100  # not the shape of a listen key
            resp = await http.delete(path, params={"listenKey": key}, headers=head_b)
            assert resp.json()["code"] == -1125

            async with connect(ws_url(stack.base_url, f"/ws/{key}")) as ws:
                await asyncio.sleep(0.2)
                # Closing the key ends its stream: eventStreamTerminated, then the close.
                resp = await http.delete(path, params={"listenKey": key}, headers=head_a)
                assert (resp.status_code, resp.json()) == (200, {})
                event = await next_json(ws)
                assert event["e"] == "eventStreamTerminated" and event["E"] > 0
                with pytest.raises(ConnectionClosed):
                    await next_json(ws)
            # Gone: keepalive, delete and connect all refuse it.
            resp = await http.put(path, data={"listenKey": key}, headers=head_a)
            assert resp.json()["code"] == -1125
            resp = await http.delete(path, params={"listenKey": key}, headers=head_a)
            assert resp.json()["code"] == -1125
            async with connect(ws_url(stack.base_url, f"/ws/{key}")) as ws:
                refusal = await next_json(ws)
                assert refusal == {
                    "error": {"code": -1125, "msg": "This listenKey does not exist."}
                }
                with pytest.raises(ConnectionClosed) as closed:
                    await next_json(ws)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            # A new key after closing.
            assert await listen_key(http, alice) != key

    asyncio.run(scenario())


def test_rolled_back_change_publishes_nothing(live_stack: LiveStack) -> None:
    """An order refused inside its transaction (insufficient funds: the hold's ledger posting is
    rolled back) sends no balance event; the next committed order does."""
    stack, alice = live_stack, live_stack.alice

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
            key = await listen_key(http, alice)
            async with connect(ws_url(stack.base_url, f"/ws/{key}")) as ws:
                refused = await rest(
                    http, "POST", "/api/v3/order", alice, symbol="BTCUSDT", side="BUY",
                    type="LIMIT", timeInForce="GTC", quantity="100", price="50000",
                )  # fmt: skip
                assert refused.json()["code"] == -2010
                assert await silent_for(ws, 1.5) == []
                placed = await rest(
                    http, "POST", "/api/v3/order", alice, symbol="BTCUSDT", side="BUY",
                    type="LIMIT", timeInForce="GTC", quantity="0.1", price="100",
                )  # fmt: skip
                assert placed.status_code == 200
                got = await collect_until(
                    ws,
                    lambda ms: (
                        any(m.get("e") == "outboundAccountPosition" for m in ms)
                        and any(m.get("e") == "executionReport" for m in ms)
                    ),
                )
                position = next(m for m in got if m["e"] == "outboundAccountPosition")
                assert position["B"] == [{"a": "USDT", "f": "99990.00000000", "l": "10.00000000"}]

    asyncio.run(scenario())
