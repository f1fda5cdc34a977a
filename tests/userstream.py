"""Helpers for the user data stream tests against the real processes: signed REST calls with
httpx and WebSocket clients with websockets, on one asyncio loop per test."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from binance.ws.reconnecting_websocket import ReconnectingWebsocket
from websockets.asyncio.client import ClientConnection

from tests.live import Trader

S = TypeVar("S", bound=ReconnectingWebsocket)


def closing_promptly(socket: S) -> S:
    """A python-binance market socket whose `async with` ends at once: leaving it waits for
    the socket's read loop, which sees the close only when a read times out (TIMEOUT, 10 s by
    default; a market socket retries its reads, so a shorter timeout changes nothing else).
    Not for the WebSocket API connection: there TIMEOUT is also how long a request waits."""
    socket.TIMEOUT = 0.5
    return socket


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


def signed_query(trader: Trader, params: dict[str, Any]) -> str:
    query = urlencode({**params, "timestamp": int(time.time() * 1000), "recvWindow": 10000})
    signature = hmac.new(trader.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={signature}"


async def rest(
    http: httpx.AsyncClient, method: str, path: str, trader: Trader, **params: Any
) -> httpx.Response:
    """A SIGNED request (query string), as python-binance sends GET/DELETE."""
    return await http.request(
        method,
        f"{path}?{signed_query(trader, params)}",
        headers={"X-MBX-APIKEY": trader.api_key},
    )


async def listen_key(http: httpx.AsyncClient, trader: Trader) -> str:
    resp = await http.post("/api/v3/userDataStream", headers={"X-MBX-APIKEY": trader.api_key})
    assert resp.status_code == 200, resp.text
    key: str = resp.json()["listenKey"]
    return key


async def next_json(ws: ClientConnection, timeout: float = 10) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def collect_until(
    ws: ClientConnection, done: Callable[[list[Any]], bool], timeout: float = 15
) -> list[Any]:
    """Messages received until `done(messages)` holds; fails after `timeout` seconds."""
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    while not done(messages):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out; received {messages}")
        messages.append(await next_json(ws, left))
    return messages


async def silent_for(ws: ClientConnection, seconds: float) -> list[Any]:
    """Whatever arrives within `seconds` (expected: nothing)."""
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            got.append(await next_json(ws, left))
        except TimeoutError:
            break
    return got
