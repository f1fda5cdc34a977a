"""Market streams over real sockets against the real processes (daphne, matcher, worker, beat):
the three connection forms, the control protocol, and a local book kept by the contract's 7.3
procedure that must equal REST depth after a burst."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from clearing.tests.helpers import assert_ledger_invariants, assert_orders_accounted
from orders.services import order_place
from tests.burst import burst
from tests.live import LiveStack

pytestmark = pytest.mark.django_db(transaction=True)


def ws_url(stack: LiveStack, path: str) -> str:
    return stack.base_url.replace("http://", "ws://") + path


def recv_json(ws: ClientConnection, timeout: float = 10) -> Any:
    return json.loads(ws.recv(timeout=timeout))


def recv_until(ws: ClientConnection, pred: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        msg = recv_json(ws, max(0.01, deadline - time.monotonic()))
        if pred(msg):
            return msg


def rest_depth(stack: LiveStack) -> dict[str, Any]:
    r = httpx.get(stack.base_url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 1000})
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


class LocalBook:
    """A client's book kept by the 7.3 procedure: buffer, snapshot, drop, then contiguous."""

    def __init__(self) -> None:
        self.buffer: list[dict[str, Any]] = []
        self.last: int | None = None
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.applied = 0

    def snapshot(self, snap: dict[str, Any]) -> None:
        self.last = snap["lastUpdateId"]
        self.bids = {Decimal(p): Decimal(q) for p, q in snap["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snap["asks"]}
        pending, self.buffer = self.buffer, []
        first = True
        for ev in pending:
            if ev["u"] <= self.last:
                continue
            if first:
                assert ev["U"] <= self.last + 1 <= ev["u"], (ev["U"], ev["u"], self.last)
                first = False
            self._apply(ev, check=not first)

    def event(self, ev: dict[str, Any]) -> None:
        if self.last is None:
            self.buffer.append(ev)
            return
        if ev["u"] <= self.last:
            return
        self._apply(ev, check=True)

    def _apply(self, ev: dict[str, Any], *, check: bool) -> None:
        assert self.last is not None
        if check and self.applied:
            assert ev["U"] == self.last + 1, f"gap: {self.last} -> {ev['U']}"
        for side, levels in ((self.bids, ev["b"]), (self.asks, ev["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        self.last = ev["u"]
        self.applied += 1

    def same_as(self, snap: dict[str, Any]) -> bool:
        return self.bids == {Decimal(p): Decimal(q) for p, q in snap["bids"]} and self.asks == {
            Decimal(p): Decimal(q) for p, q in snap["asks"]
        }


def _unwrap(msg: Any, combined: bool) -> Any:
    if combined and isinstance(msg, dict) and "stream" in msg:
        return msg["data"]
    return msg


@pytest.mark.parametrize("form", ["ws", "ws-stream", "combined"])
def test_local_book_by_the_7_3_procedure_equals_rest_depth(
    live_stack: LiveStack, form: str
) -> None:
    stack = live_stack
    stream = "btcusdt@depth@100ms"
    combined = form == "combined"
    path = {"ws": "/ws", "ws-stream": f"/ws/{stream}", "combined": f"/stream?streams={stream}"}
    book = LocalBook()
    # A book with levels before we connect.
    for i in range(5):
        order_place(
            user_id=stack.alice.user.id, symbol="BTCUSDT", side="BUY", type="LIMIT",
            time_in_force="GTC", price=Decimal(49900 + i), quantity=Decimal("0.01"),
        )  # fmt: skip
    with connect(ws_url(stack, path[form])) as ws:
        if form == "ws":
            ws.send(json.dumps({"method": "SUBSCRIBE", "params": [stream], "id": 1}))
            while True:  # events before the answer are buffered, then the answer
                msg = recv_json(ws)
                if msg.get("id") == 1:
                    assert msg == {"result": None, "id": 1}
                    break
                book.event(msg)
        # The snapshot right after the answer (or the connect), as clients do; the burst after.
        book.snapshot(rest_depth(stack))
        users = [stack.alice.user, stack.bob.user]
        outcomes = burst(users, "BTCUSDT", 120, threads=2, seed=11)
        assert outcomes["place"] > 50
        # Events until the book is quiet and equal to REST depth.
        deadline = time.monotonic() + 20
        while True:
            try:
                msg = _unwrap(recv_json(ws, timeout=1.5), combined)
                assert msg["e"] == "depthUpdate" and msg["s"] == "BTCUSDT"
                book.event(msg)
                continue
            except TimeoutError:
                pass
            snap = rest_depth(stack)
            if snap["lastUpdateId"] == book.last and book.same_as(snap):
                break
            assert time.monotonic() < deadline, "the local book never matched REST depth"
    assert book.applied > 0
    assert_ledger_invariants()
    assert_orders_accounted()


def test_control_protocol_and_errors(live_stack: LiveStack) -> None:
    with connect(ws_url(live_stack, "/ws/0")) as ws:
        assert ws.ping(b"x").wait(5)  # a client's ping is answered with a pong
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 7}))
        assert recv_json(ws) == {"result": [], "id": 7}
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": "a"}))
        assert recv_json(ws) == {"result": None, "id": "a"}
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 2}))
        err = recv_json(ws)
        assert err["id"] == 2 and err["error"]["code"] == 2
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@nonsense"], "id": 3}))
        assert recv_json(ws)["error"]["code"] == 2
        time.sleep(1.1)
        ws.send("{not json")
        assert recv_json(ws)["error"]["code"] == 3
        ws.send(json.dumps({"method": "FLY", "params": [], "id": 4}))
        assert recv_json(ws) == {
            "error": {"code": 2, "msg": "Invalid request: unknown method 'FLY'"},
            "id": 4,
        }
        ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 5}))
        assert recv_json(ws) == {"result": ["btcusdt@trade"], "id": 5}
        time.sleep(1.1)
        ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 6}))
        assert recv_json(ws) == {"result": None, "id": 6}
        many = [f"s{i}@trade" for i in range(1025)]  # the count is checked first
        ws.send(json.dumps({"method": "SUBSCRIBE", "params": many, "id": 8}))
        err = recv_json(ws)
        assert err["id"] == 8 and err["error"]["code"] == 2 and "1024" in err["error"]["msg"]
        ws.send("x" * 20_000)  # above the frame limit: an error, then the close
        assert recv_json(ws)["error"]["code"] == 2
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                recv_json(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    with connect(ws_url(live_stack, "/ws")) as ws:
        # More than 5 messages in a second: an error, then the connection is closed (the close
        # may already meet the last sends).
        with pytest.raises(ConnectionClosed) as closed:
            for i in range(7):
                ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 100 + i}))
            while True:
                recv_json(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008


def test_trade_and_agg_trade_events(live_stack: LiveStack) -> None:
    stack = live_stack
    with connect(ws_url(stack, "/stream?streams=btcusdt@trade/btcusdt@aggTrade")) as ws:
        order_place(
            user_id=stack.alice.user.id, symbol="BTCUSDT", side="SELL", type="LIMIT",
            time_in_force="GTC", price=Decimal(50000), quantity=Decimal("0.01"),
        )  # fmt: skip
        order_place(
            user_id=stack.bob.user.id, symbol="BTCUSDT", side="BUY", type="LIMIT",
            time_in_force="GTC", price=Decimal(50000), quantity=Decimal("0.004"),
        )  # fmt: skip
        seen: dict[str, Any] = {}
        while len(seen) < 2:
            msg = recv_json(ws)
            seen[msg["stream"]] = msg["data"]
    trade, agg = seen["btcusdt@trade"], seen["btcusdt@aggTrade"]
    rest = httpx.get(stack.base_url + "/api/v3/trades", params={"symbol": "BTCUSDT"}).json()
    assert len(rest) == 1
    assert trade["e"] == "trade" and trade["s"] == "BTCUSDT"
    assert trade["t"] == rest[0]["id"] == agg["a"] == agg["f"] == agg["l"]
    assert trade["p"] == rest[0]["price"] == "50000.00000000"
    assert trade["q"] == rest[0]["qty"] == "0.00400000"
    assert trade["T"] == rest[0]["time"]
    assert trade["m"] is False and rest[0]["isBuyerMaker"] is False
    assert_ledger_invariants()


def test_ticker_kline_and_partial_depth_streams_and_metrics(live_stack: LiveStack) -> None:
    stack = live_stack

    def place(user: Any, side: str, qty: str, price: int = 50000) -> None:
        order_place(
            user_id=user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force="GTC",
            price=Decimal(price), quantity=Decimal(qty),
        )  # fmt: skip

    place(stack.alice.user, "SELL", "0.01")
    place(stack.bob.user, "BUY", "0.004")
    deadline = time.monotonic() + 10
    while not httpx.get(stack.base_url + "/api/v3/trades", params={"symbol": "BTCUSDT"}).json():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    names = [
        "btcusdt@ticker", "btcusdt@miniTicker", "!miniTicker@arr", "btcusdt@kline_1m",
        "btcusdt@depth5@100ms",
    ]  # fmt: skip
    with connect(ws_url(stack, "/stream?streams=" + "/".join(names))) as ws:
        # The current state of the tickers and the open candle, at once.
        first: dict[str, Any] = {}
        while len(first) < 4:
            msg = recv_json(ws)
            first[msg["stream"]] = msg["data"]
        rest = httpx.get(stack.base_url + "/api/v3/ticker/24hr", params={"symbol": "BTCUSDT"})
        t = rest.json()
        ticker = first["btcusdt@ticker"]
        assert ticker["e"] == "24hrTicker" and ticker["s"] == "BTCUSDT"
        assert (ticker["c"], ticker["v"], ticker["n"], ticker["F"], ticker["L"]) == (
            t["lastPrice"],
            t["volume"],
            t["count"],
            t["firstId"],
            t["lastId"],
        )
        assert (ticker["a"], ticker["A"]) == (t["askPrice"], t["askQty"]) == (
            "50000.00000000", "0.00600000"
        )  # fmt: skip
        mini = first["btcusdt@miniTicker"]
        assert mini["e"] == "24hrMiniTicker" and mini["c"] == "50000.00000000"
        assert [m["s"] for m in first["!miniTicker@arr"]] == ["BTCUSDT"]
        kline = first["btcusdt@kline_1m"]
        k = kline["k"]
        assert kline["e"] == "kline" and k["i"] == "1m" and k["s"] == "BTCUSDT"
        rest_k = httpx.get(
            stack.base_url + "/api/v3/klines",
            params={"symbol": "BTCUSDT", "interval": "1m", "limit": 1},
        ).json()[-1]
        assert [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"]] == (
            rest_k[:9]
        )
        # Another trade: the open candle, the tickers and the top of the book follow.
        place(stack.bob.user, "BUY", "0.002")
        seen: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while not {"btcusdt@ticker", "btcusdt@kline_1m", "btcusdt@depth5@100ms"} <= set(seen):
            msg = recv_json(ws, timeout=max(0.1, deadline - time.monotonic()))
            seen[msg["stream"]] = msg["data"]
        assert seen["btcusdt@ticker"]["n"] == 2
        assert seen["btcusdt@ticker"]["v"] == "0.00600000"
        k2 = seen["btcusdt@kline_1m"]["k"]
        assert k2["n"] == (2 if k2["t"] == k["t"] else 1)
        partial = seen["btcusdt@depth5@100ms"]
        assert partial["asks"] == [["50000.00000000", "0.00400000"]] and partial["bids"] == []
        assert partial["lastUpdateId"] <= rest_depth(stack)["lastUpdateId"]
        metrics = httpx.get(stack.base_url + "/metrics").text
    lines = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in metrics.splitlines()
        if line.startswith("exchange_ws_") and " " in line
    }
    assert lines["exchange_ws_connections"] == 1
    assert lines["exchange_ws_subscriptions"] == len(names)
    assert lines["exchange_ws_messages_out_total"] >= 7
    assert lines["exchange_ws_commit_to_send_seconds_count"] >= 2  # the kline, the depth5
    assert_ledger_invariants()


def test_a_client_that_stops_reading_is_closed_and_nobody_else_notices(
    transactional_db: None, redis_client: Any, tmp_path: Any
) -> None:
    """A web process whose socket buffer limit is small; frames published straight to the
    market's channel (the matcher's message format) so that megabytes flow."""
    import orjson

    from bench.harness.procs import free_port, http_ok, wait_for
    from marketdata.feedbus import market_channel
    from orders.services import market_create
    from tests.procs import web_proc

    market_create(
        base="BTC", quote="USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.00001"),
        min_notional=Decimal("5"),
    )  # fmt: skip
    port = free_port()
    web = web_proc(port, tmp_path, WS_SEND_BUFFER_LIMIT="1000000").start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(base + "/api/v3/ping"), 30, "the web process", [web])
        url = f"ws://127.0.0.1:{port}/ws/btcusdt@trade"
        client = redis_client
        with connect(url, max_queue=4) as slow, connect(url, max_queue=None) as fast:
            time.sleep(0.5)
            # 80,000 trade events of ~170 bytes: far more than the kernel buffers hold.
            for batch in range(160):
                trades = [[batch * 500 + i + 1, 5_000_000, 100, True] for i in range(500)]
                client.publish(
                    market_channel("BTCUSDT"),
                    orjson.dumps({"c": time.time(), "T": int(time.time() * 1000), "t": trades}),
                )
                time.sleep(0.05)  # paced: a client that reads keeps up
            # The reader gets every event, in order, without a hole.
            expected = 1
            while expected <= 80_000:
                ev = recv_json(fast, timeout=20)
                assert ev["t"] == expected
                expected += 1
            # The one that did not read is closed (4013, queued behind what it never read: the
            # server drops the TCP connection when that close frame cannot get through).
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    slow.recv(timeout=20)
            assert closed.value.rcvd is None or closed.value.rcvd.code == 4013
        metrics = httpx.get(base + "/metrics").text
        assert "exchange_ws_dropped_slow_total 1.0" in metrics
    finally:
        web.stop()
