"""The lean ASGI front (exchange_site.binance.asgi): /api/v3/ straight to the views, the rest
to the fallback app. Driven in-process with ASGI messages."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from exchange_site.binance.asgi import api_asgi
from tests.api_client import ApiClient, hmac_hex, http_scope, make_market, now_ms


def call(
    api: ApiClient,
    path: str,
    *,
    method: str = "GET",
    query: str = "",
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, dict[str, str], bytes, list[str]]:
    fallback_calls: list[str] = []

    async def fallback(scope: Any, receive: Any, send: Any) -> None:
        fallback_calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"fallback"})

    app = api_asgi(fallback)
    scope = http_scope(method, path, query, [(b"host", b"127.0.0.1"), *(headers or [])])
    # The body arrives in two chunks, as a server may deliver it.
    pending = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.request", "body": body[5:], "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    assert api.runner is not None

    async def serve() -> None:
        await app(scope, receive, send)

    api.runner.run(serve())
    start, content = sent[0], sent[1]
    response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, content["body"], fallback_calls


def test_api_paths_are_served_directly(api: ApiClient) -> None:
    status, headers, body, fallback = call(api, "/api/v3/ping")
    assert (status, body, fallback) == (200, b"{}", [])
    assert headers["content-type"] == "application/json"
    assert headers["x-mbx-used-weight-1m"] == "1"
    assert headers["content-length"] == "2"  # no chunked encoding for a small JSON body


def test_unknown_api_paths_are_json_404(api: ApiClient) -> None:
    for path in ("/api/v3/nothing", "/api/v3/ping/"):
        status, _, body, fallback = call(api, path)
        assert status == 404 and fallback == []
        assert orjson.loads(body) == {"code": -1020, "msg": "This operation is not supported."}


def test_other_paths_go_to_django(api: ApiClient) -> None:
    for path in ("/admin/", "/api/schema/", "/api/docs/", "/metrics"):
        status, _, body, fallback = call(api, path)
        assert (status, body, fallback) == (299, b"fallback", [path])


def test_signed_form_body_through_the_asgi_front(signed_api: ApiClient) -> None:
    make_market()
    body = f"symbol=BTCUSDT&timestamp={now_ms()}"
    body += "&signature=" + hmac_hex(signed_api.secret or "", body)
    status, _, content, _ = call(
        signed_api,
        "/api/v3/openOrders",
        method="DELETE",
        body=body.encode(),
        headers=[
            (b"x-mbx-apikey", (signed_api.key or "").encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ],
    )
    assert status == 400
    assert orjson.loads(content) == {"code": -2011, "msg": "Unknown order sent."}


def test_disallowed_host_and_oversized_body(api: ApiClient) -> None:
    status, _, _, _ = call(api, "/api/v3/ping", headers=[(b"host", b"evil.example")])
    # The scope carries two host headers; Django reads the last one given.
    assert status in (200, 400)
    status, _, body, _ = call(api, "/api/v3/ping", method="POST", body=b"x" * 3_000_000)
    assert status == 413 and orjson.loads(body) == {
        "code": -1101,
        "msg": "Too many parameters; the request body is larger than 65536 bytes.",
    }
