"""HTTP behaviour common to every endpoint: exact paths, JSON errors, parameter sources,
and the 500/503 mapping."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError

from tests.api_client import ApiClient, hmac_hex, make_market, now_ms

NOT_SUPPORTED = {"code": -1020, "msg": "This operation is not supported."}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v3/ping/"),
        ("POST", "/api/v3/order/"),
        ("DELETE", "/api/v3/openOrders/"),
        ("GET", "/api/v3/nothing"),
        ("GET", "/api/v1/ping"),
        ("GET", "/api/"),
        ("POST", "/api/v3"),
        ("GET", "/api/v3/Ping"),
    ],
)
def test_unknown_paths_are_json_404_never_redirects(api: ApiClient, method: str, path: str) -> None:
    response = api.raw(method, path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == NOT_SUPPORTED


def test_wrong_method_on_a_known_path(api: ApiClient) -> None:
    response = api.raw("PUT", "/api/v3/ping")
    assert response.status_code == 405
    assert response.json() == NOT_SUPPORTED
    assert response["Allow"] == "GET"
    assert api.raw("PATCH", "/api/v3/order")["Allow"] == "DELETE, GET, POST"


def test_json_content_type_on_a_bodyless_get_is_ignored(api: ApiClient) -> None:
    response = api.raw("GET", "/api/v3/time", content_type="application/json")
    assert response.status_code == 200
    assert set(response.json()) == {"serverTime"}


def test_success_bodies_are_json_with_the_weight_header(api: ApiClient) -> None:
    response = api.get("/api/v3/ping")
    assert response["Content-Type"] == "application/json"
    assert response["X-MBX-USED-WEIGHT-1M"] == "1"
    assert "code" not in response.json()


def test_duplicate_parameter_is_1101(api: ApiClient) -> None:
    make_market()
    response = api.raw("GET", "/api/v3/depth", query="symbol=BTCUSDT&symbol=BTCUSDT")
    assert response.status_code == 400
    assert response.json()["code"] == -1101


def test_query_wins_over_body_and_delete_bodies_are_read(signed_api: ApiClient) -> None:
    make_market()
    headers = {"X-MBX-APIKEY": signed_api.key or ""}
    # symbol in both parts: the query's (unknown) wins over the body's (existing).
    query = "symbol=NOPEUSDT"
    body = f"symbol=BTCUSDT&timestamp={now_ms()}"
    sig = hmac_hex(signed_api.secret or "", query + body)
    response = signed_api.raw(
        "DELETE", "/api/v3/openOrders", query=query, body=f"{body}&signature={sig}", headers=headers
    )
    assert response.json() == {"code": -1121, "msg": "Invalid symbol."}
    # Only in the DELETE body: read (nothing open: -2011, i.e. the symbol was found).
    response = signed_api.signed(
        "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, in_body=True
    )
    assert response.json() == {"code": -2011, "msg": "Unknown order sent."}


def test_unexpected_exception_is_500_1000(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(**kwargs: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("marketdata.selectors.market_get", boom)
    response = api.get("/api/v3/depth", {"symbol": "BTCUSDT"})
    assert response.status_code == 500
    assert response.json() == {
        "code": -1000,
        "msg": "An unknown error occurred while processing the request.",
    }
    assert response["X-MBX-USED-WEIGHT-1M"] == "5"


def test_database_down_is_503_1001(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(**kwargs: Any) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("marketdata.selectors.market_get", down)
    response = api.get("/api/v3/depth", {"symbol": "BTCUSDT"})
    assert response.status_code == 503
    assert response.json() == {
        "code": -1001,
        "msg": "Internal error; unable to process your request. Please try again.",
    }


def test_redis_down_is_503_1001(api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis.asyncio as aioredis

    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr("exchange_site.binance.ratelimit.get_async_redis", lambda: dead)
    response = api.get("/api/v3/ping")
    assert response.status_code == 503
    assert response.json()["code"] == -1001


def test_views_work_through_the_normal_django_stack(signed_api: ApiClient) -> None:
    """Django's sync test client: the full middleware stack (CSRF included) in front."""
    django_api = ApiClient(transport="django", key=signed_api.key, secret=signed_api.secret)
    assert django_api.get("/api/v3/ping").json() == {}
    assert django_api.get("/api/v3/ping/").json() == NOT_SUPPORTED
    assert django_api.signed("GET", "/api/v3/account").status_code == 200
    # A form POST without any CSRF token reaches the endpoint (-1102, not a 403 page).
    response = django_api.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT"})
    assert response.status_code == 400
    assert response.json()["code"] == -1102
