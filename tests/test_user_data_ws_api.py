"""The WebSocket API's user data requests (contract 7.4), the end of streams whose key is
disabled, closed or expired, and the web UI's session socket, against the real processes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
import redis
from django.db import connection
from django.test import Client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from accounts.models import ApiKey
from accounts.services import api_key_set_enabled
from tests.live import LiveStack, Trader
from tests.userstream import collect_until, listen_key, next_json, rest, silent_for, ws_url

pytestmark = pytest.mark.django_db(transaction=True)


def subscribe_request(trader: Trader, rid: Any = 1, **override: Any) -> dict[str, Any]:
    """Signed as ccxt signs it: the params sorted by name, name=value joined by "&"."""
    params: dict[str, Any] = {"apiKey": trader.api_key, "timestamp": int(time.time() * 1000)}
    params.update(override)
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature")
    if "signature" not in params:
        params["signature"] = hmac.new(
            trader.secret.encode(), payload.encode(), hashlib.sha256
        ).hexdigest()
    return {"id": rid, "method": "userDataStream.subscribe.signature", "params": params}


async def db(fn: Any) -> Any:
    """Run ORM work on a thread (not in the event loop), closing its connection after."""

    def run() -> Any:
        try:
            return fn()
        finally:
            connection.close()

    return await asyncio.to_thread(run)


async def call(ws: ClientConnection, request: Any) -> Any:
    await ws.send(request if isinstance(request, str) else json.dumps(request))
    return await next_json(ws)


async def place(http: httpx.AsyncClient, trader: Trader, price: str = "100") -> int:
    resp = await rest(
        http, "POST", "/api/v3/order", trader, symbol="BTCUSDT", side="BUY", type="LIMIT",
        timeInForce="GTC", quantity="0.1", price=price,
    )  # fmt: skip
    assert resp.status_code == 200, resp.text
    order_id: int = resp.json()["orderId"]
    return order_id


def test_ws_api_requests_and_errors(live_stack: LiveStack) -> None:
    stack, alice = live_stack, live_stack.alice

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http,
            connect(ws_url(stack.base_url, "/ws-api/v3")) as ws,
        ):
            assert await call(ws, {"id": "p", "method": "ping", "params": {}}) == {
                "id": "p", "status": 200, "result": {},
            }  # fmt: skip
            answer = await call(ws, {"id": 2, "method": "time"})
            assert abs(answer["result"]["serverTime"] - time.time() * 1000) < 5000
            # Malformed requests: Binance's error object, the connection stays usable.
            bad = await call(ws, "{not json")
            assert (bad["id"], bad["status"], bad["error"]["code"]) == (None, 400, -1100)
            bad = await call(ws, {"method": "ping"})
            assert (bad["status"], bad["error"]["code"]) == (400, -1102)
            bad = await call(ws, {"id": 3, "method": "order.place", "params": {}})
            assert (bad["id"], bad["status"], bad["error"]) == (
                3,
                400,
                {"code": -1020, "msg": "This operation is not supported."},
            )
            # Authentication, in the REST check order.
            refusals = [
                (subscribe_request(alice, apiKey="short"), 401, -2014),
                (subscribe_request(alice, apiKey="x" * 64), 401, -2015),
                (subscribe_request(alice, signature="ab" * 32), 400, -1022),
                (subscribe_request(alice, timestamp=int(time.time() * 1000) - 60_000), 400, -1021),
                ({"id": 9, "method": "userDataStream.subscribe.signature",
                  "params": {"apiKey": alice.api_key}}, 400, -1102),
            ]  # fmt: skip
            for request, status, code in refusals:
                answer = await call(ws, request)
                assert (answer["status"], answer["error"]["code"]) == (status, code), answer
            # Nothing is subscribed: an order sends nothing here.
            await place(http, alice)
            assert await silent_for(ws, 1.0) == []

            first = await call(ws, subscribe_request(alice, rid="s1", recvWindow=10000))
            assert first == {"id": "s1", "status": 200, "result": {"subscriptionId": 0}}
            second = await call(ws, subscribe_request(alice, rid="s2"))
            assert second["result"] == {"subscriptionId": 1}
            order_id = await place(http, alice)
            got = await collect_until(
                ws,
                lambda ms: (
                    {m["subscriptionId"] for m in ms if m["event"].get("i") == order_id} == {0, 1}
                ),
            )
            assert all(set(m) == {"subscriptionId", "event"} for m in got)
            report = next(m["event"] for m in got if m["event"].get("i") == order_id)
            assert (report["e"], report["x"], report["s"]) == ("executionReport", "NEW", "BTCUSDT")

            answer = await call(ws, {"id": 5, "method": "userDataStream.unsubscribe",
                                     "params": {"subscriptionId": 0}})  # fmt: skip
            assert answer == {"id": 5, "status": 200, "result": {}}
            bad = await call(ws, {"id": 6, "method": "userDataStream.unsubscribe",
                                  "params": {"subscriptionId": 0}})  # fmt: skip
            assert bad["status"] == 400
            await silent_for(ws, 0.5)  # the position of the order above, still for both
            order_id = await place(http, alice)
            got = await collect_until(
                ws, lambda ms: any(m["event"].get("i") == order_id for m in ms)
            )
            assert {m["subscriptionId"] for m in got} == {1}

    asyncio.run(scenario())


def test_disabled_key_terminates_its_streams(live_stack: LiveStack) -> None:
    """An operator disabling the key ends the streams at once (eventStreamTerminated); a key
    disabled behind the services' back is noticed by the periodic check."""
    stack, alice, bob = live_stack, live_stack.alice, live_stack.bob

    async def scenario() -> None:
        async with (
            httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http,
            connect(ws_url(stack.base_url, "/ws-api/v3")) as api_ws,
        ):
            key = await listen_key(http, bob)
            async with connect(ws_url(stack.base_url, f"/ws/{key}")) as lk_ws:
                answer = await call(api_ws, subscribe_request(bob))
                sid = answer["result"]["subscriptionId"]
                await asyncio.sleep(0.2)
                row = await db(lambda: ApiKey.objects.get(key=bob.api_key))
                started = time.monotonic()
                await db(lambda: api_key_set_enabled(api_key=row, enabled=False))
                ended = await next_json(api_ws)
                assert ended["subscriptionId"] == sid
                assert ended["event"]["e"] == "eventStreamTerminated"
                assert (await next_json(lk_ws))["e"] == "eventStreamTerminated"
                assert time.monotonic() - started < 1.0  # the control message, not the check
                with pytest.raises(ConnectionClosed):
                    await next_json(lk_ws)
                # The WebSocket API connection stays open; the subscription is gone.
                assert (await call(api_ws, {"id": 7, "method": "ping"}))["status"] == 200

            key = await listen_key(http, alice)
            async with connect(ws_url(stack.base_url, f"/ws/{key}")) as lk_ws:
                await asyncio.sleep(0.2)
                await db(lambda: ApiKey.objects.filter(key=alice.api_key).update(enabled=False))
                event = await next_json(lk_ws, timeout=5)  # USERDATA_KEY_CHECK_S=1
                assert event["e"] == "eventStreamTerminated"

    asyncio.run(scenario())


def test_expired_listen_key_terminates_its_stream(
    live_stack: LiveStack, redis_client: redis.Redis
) -> None:
    stack, alice = live_stack, live_stack.alice

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http:
            key = await listen_key(http, alice)
            async with connect(ws_url(stack.base_url, f"/ws/{key}")) as ws:
                # Expire it now instead of in 60 minutes (the same Redis expiry).
                assert redis_client.ttl(f"ud:lk:{key}") > 3500
                redis_client.expire(f"ud:lk:{key}", 1)
                event = await next_json(ws, timeout=5)
                assert event["e"] == "eventStreamTerminated"
                with pytest.raises(ConnectionClosed):
                    await next_json(ws)
            resp = await http.put(
                "/api/v3/userDataStream", data={"listenKey": key},
                headers={"X-MBX-APIKEY": alice.api_key},
            )  # fmt: skip
            assert resp.json()["code"] == -1125

    asyncio.run(scenario())


def test_ui_stream_is_the_session_users(live_stack: LiveStack) -> None:
    stack, alice = live_stack, live_stack.alice
    browser = Client()
    browser.force_login(alice.user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    origin = Origin(stack.base_url)
    url = ws_url(stack.base_url, "/ui/stream")

    async def scenario() -> None:
        # Another site's page cannot open it with the user's cookie.
        with pytest.raises(InvalidStatus):
            async with connect(
                url, origin=Origin("http://evil.example"), additional_headers={"Cookie": cookie}
            ):
                pass
        # No session: closed with 4401.
        async with connect(url, origin=origin) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await next_json(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with (
            httpx.AsyncClient(base_url=stack.base_url, timeout=15) as http,
            connect(url, origin=origin, additional_headers={"Cookie": cookie}) as ws,
        ):
            ready = await next_json(ws)
            assert ready["e"] == "streamReady"
            order_id = await place(http, alice)
            got = await collect_until(
                ws,
                lambda ms: (
                    any(m.get("i") == order_id for m in ms)
                    and any(m["e"] == "outboundAccountPosition" for m in ms)
                ),
            )
            report = next(m for m in got if m.get("i") == order_id)
            assert (report["e"], report["x"], report["X"]) == ("executionReport", "NEW", "NEW")

    asyncio.run(scenario())
