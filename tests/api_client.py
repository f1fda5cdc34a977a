"""Test helpers for the /api/v3/ layer: an in-process ASGI client that signs like the reference
clients do, key issuing, and response-schema checks against the served OpenAPI document.

Requests are driven through the production ASGI composition (exchange_site.binance.asgi in front
of Django's ASGI handler) on ONE event loop per test, run in a background thread, as daphne runs
one loop per process. (Django's sync test client runs every async view on a fresh event loop,
and each loop would leave its own Redis connection behind.) `ApiClient(transport="django")`
sends through Django's sync test client instead, to check the views in the normal stack.

The views' database work runs on the API thread pool, i.e. on other connections than the test's,
so tests using this need the transactional database (`transactional_db`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from django.test import Client

from accounts.models import ApiKey, User
from accounts.services import api_key_issue
from orders.models import Market
from wallet.models import Asset

Params = Mapping[str, Any] | Iterable[tuple[str, Any]]
T = TypeVar("T")


def hmac_hex(secret: str, payload: str | bytes) -> str:
    data = payload.encode() if isinstance(payload, str) else payload
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _pairs(params: Params | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(k), str(v)) for k, v in items]


class LoopThread:
    """An event loop running in a background thread; `run` submits a coroutine and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        from exchange_site.redis import async_redis_close

        # exchange_site.redis keeps one asyncio client per loop: close this loop's.
        self.run(async_redis_close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def http_scope(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[bytes, bytes]],
    client_addr: str = "127.0.0.1",
) -> dict[str, Any]:
    """The ASGI scope of an HTTP/1.1 request to 127.0.0.1:8000, as daphne builds it; `headers`
    are the raw (lower-case name, value) pairs, Host included."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": (client_addr, 50000),
        "server": ("127.0.0.1", 8000),
    }


@functools.cache
def asgi_application() -> Any:
    """The production HTTP composition: the lean /api/v3/ front, Django behind it."""
    from django.core.asgi import get_asgi_application

    from exchange_site.binance.asgi import api_asgi

    return api_asgi(get_asgi_application())


@dataclass
class Response:
    status_code: int
    headers: dict[str, str]  # lower-case names
    content: bytes

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.headers

    def json(self) -> Any:
        # parse_float: a float in a response would be a bug worth seeing as a Decimal.
        return json.loads(self.content, parse_float=Decimal)


@dataclass
class ApiClient:
    """Requests as ccxt/python-binance make them: GET/DELETE parameters in the query, POST/PUT
    parameters in the form body (`in_body` overrides), signature last."""

    runner: LoopThread | None = None
    key: str | None = None
    secret: str | None = None
    remote_addr: str = "127.0.0.1"
    transport: str = "asgi"  # or "django": Django's sync test client
    django_client: Client = field(default_factory=Client)

    def raw(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        body: str | bytes = "",
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> Response:
        data = body.encode() if isinstance(body, str) else body
        if self.transport == "django":
            return self._via_django(method, path, query, data, headers or {}, content_type)
        assert self.runner is not None
        return self.runner.run(
            self._via_asgi(method, path, query, data, headers or {}, content_type)
        )

    def _via_django(
        self,
        method: str,
        path: str,
        query: str,
        data: bytes,
        headers: Mapping[str, str],
        content_type: str,
    ) -> Response:
        response = self.django_client.generic(
            method,
            f"{path}?{query}" if query else path,
            data=data,
            content_type=content_type,
            headers=dict(headers),
            REMOTE_ADDR=self.remote_addr,
        )
        streamed: Iterable[bytes] = getattr(response, "streaming_content", ())
        content = b"".join(streamed) if response.streaming else response.content
        response.close()
        return Response(response.status_code, {k.lower(): v for k, v in response.items()}, content)

    async def _via_asgi(
        self,
        method: str,
        path: str,
        query: str,
        data: bytes,
        headers: Mapping[str, str],
        content_type: str,
    ) -> Response:
        raw_headers = [(b"host", b"127.0.0.1:8000")]
        raw_headers += [(k.lower().encode(), v.encode("utf-8")) for k, v in headers.items()]
        if data:
            raw_headers.append((b"content-type", content_type.encode()))
            raw_headers.append((b"content-length", str(len(data)).encode()))
        scope = http_scope(method, path, query, raw_headers, self.remote_addr)
        incoming = [{"type": "http.request", "body": data, "more_body": False}]
        finished = asyncio.Event()
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if incoming:
                return incoming.pop()
            await finished.wait()  # the client stays connected until the response is sent
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await asgi_application()(scope, receive, send)
        finished.set()
        start = sent[0]
        names = {k.decode().lower(): v.decode("latin1") for k, v in start["headers"]}
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return Response(start["status"], names, body)

    def public(self, method: str, path: str, params: Params | None = None, **kw: Any) -> Response:
        return self.raw(method, path, query=urlencode(_pairs(params)), **kw)

    def get(self, path: str, params: Params | None = None, **kw: Any) -> Response:
        return self.public("GET", path, params, **kw)

    def signed(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        in_body: bool | None = None,
        timestamp: int | None = None,
        recv_window: str | None = "10000",
        key: str | None = None,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        pairs = _pairs(params)
        pairs.append(("timestamp", str(now_ms() if timestamp is None else timestamp)))
        if recv_window is not None:
            pairs.append(("recvWindow", recv_window))
        payload = urlencode(pairs)
        signature = hmac_hex(secret or self.secret or "", payload)
        signed_part = f"{payload}&signature={signature}"
        all_headers = {"X-MBX-APIKEY": key or self.key or ""}
        all_headers.update(headers or {})
        if in_body is None:
            in_body = method in ("POST", "PUT")
        if in_body:
            return self.raw(method, path, body=signed_part, headers=all_headers)
        return self.raw(method, path, query=signed_part, headers=all_headers)


def make_user() -> User:
    """Typed wrappers over the (untyped) factory_boy factories."""
    from accounts.tests.factories import UserFactory

    user = UserFactory()  # type: ignore[no-untyped-call]
    assert isinstance(user, User)
    return user


def make_asset(code: str, precision: int = 8) -> Asset:
    from wallet.tests.factories import AssetFactory

    asset = AssetFactory(code=code, precision=precision)  # type: ignore[no-untyped-call]
    assert isinstance(asset, Asset)
    return asset


def make_market(base: str = "BTC", quote: str = "USDT", **fields: Any) -> Market:
    """BTCUSDT-like (tick 0.01, step 0.00001, min notional 5, fees 0.1 %) unless overridden."""
    from orders.tests.factories import MarketFactory

    market = MarketFactory(  # type: ignore[no-untyped-call]
        base=make_asset(base), quote=make_asset(quote), **fields
    )
    assert isinstance(market, Market)
    return market


def issue_key(
    user: User,
    *,
    permissions: Iterable[str] = ("read", "trade"),
    ip_allowlist: str = "",
    tier: str = "default",
) -> tuple[ApiKey, str]:
    api_key, secret = api_key_issue(user=user, permissions=permissions, ip_allowlist=ip_allowlist)
    if tier != "default":
        ApiKey.objects.filter(pk=api_key.pk).update(tier=tier)
        api_key.tier = tier
    return api_key, secret


@functools.cache
def _document() -> dict[str, Any]:
    from django.urls import get_resolver

    from exchange_site.binance.schema import openapi_document, routed_endpoints

    return openapi_document(routed_endpoints(get_resolver().url_patterns))


def assert_matches_schema(method: str, path: str, body: Any, status: int = 200) -> None:
    """Validate a response body against the schema the OpenAPI document declares for it."""
    from openapi_schema_validator import OAS30Validator

    document = _document()
    operation = document["paths"][path][method.lower()]
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    # The $refs point at "#/components/schemas/...": carry the components in the root.
    OAS30Validator({"allOf": [schema], "components": document["components"]}).validate(body)


# Fixtures (imported by the conftest.py of each API test package) ------------------------------


@pytest.fixture(autouse=True)
def _api_key_cache_isolated() -> Iterator[None]:
    """Keys are cached per process: a test must not see another test's key rows."""
    from accounts.apikeys import key_cache_clear

    key_cache_clear()
    yield
    key_cache_clear()


@pytest.fixture
def api(transactional_db: None, redis_client: Any) -> Iterator[ApiClient]:
    """An unauthenticated API client on a clean Redis (rate-limit counters) and database."""
    runner = LoopThread()
    yield ApiClient(runner)
    runner.close()


@pytest.fixture
def trader(transactional_db: None) -> User:
    return make_user()


@pytest.fixture
def signed_api(api: ApiClient, trader: User) -> ApiClient:
    """`api` with a read+trade key of `trader`."""
    key, secret = issue_key(trader)
    api.key, api.secret = key.key, secret
    return api
