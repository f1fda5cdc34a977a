"""Request-weight and order-rate limits (Redis, fixed windows)."""

from __future__ import annotations

from typing import Any

from django.test import override_settings

from tests.api_client import ApiClient, issue_key

TIERS = {
    "default": {"weight_1m": 40, "orders_10s": 2},
    "pro": {"weight_1m": 200, "orders_10s": 20},
    "unlimited": {"weight_1m": None, "orders_10s": None},
}


def test_ip_weight_limit_429_with_retry_after(api: ApiClient) -> None:
    with override_settings(API_RATE_LIMIT_IP_WEIGHT_1M=3):
        for used in (1, 2, 3):
            response = api.get("/api/v3/ping")
            assert response.status_code == 200
            assert response["X-MBX-USED-WEIGHT-1M"] == str(used)
        refused = api.get("/api/v3/ping")
    assert refused.status_code == 429
    assert refused.json() == {
        "code": -1003,
        "msg": "Too much request weight used; current limit is 3 request weight per 1 MINUTE.",
    }
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-MBX-USED-WEIGHT-1M"] == "4"


def test_weight_depends_on_the_endpoint_and_its_params(api: ApiClient) -> None:
    def used(path: str, **params: str) -> str:
        return str(api.get(path, params)["X-MBX-USED-WEIGHT-1M"])

    assert used("/api/v3/exchangeInfo") == "20"
    assert used("/api/v3/depth", symbol="X", limit="1000") == "70"
    assert used("/api/v3/depth", symbol="X", limit="junk") == "75"  # malformed: the default
    assert used("/api/v3/ticker/24hr") == "155"


def test_key_weight_limit_by_tier(api: ApiClient, trader: Any) -> None:
    key, secret = issue_key(trader)
    with override_settings(API_RATE_LIMITS=TIERS):
        for used in ("20", "40"):
            response = api.signed("GET", "/api/v3/account", key=key.key, secret=secret)
            assert response.status_code == 200
            assert response["X-MBX-USED-WEIGHT-1M"] == used
        refused = api.signed("GET", "/api/v3/account", key=key.key, secret=secret)
    assert refused.status_code == 429
    assert refused.json()["code"] == -1003
    assert "current limit is 40 request weight" in refused.json()["msg"]
    assert "Retry-After" in refused


def test_pro_and_unlimited_tiers(api: ApiClient, trader: Any) -> None:
    pro, pro_secret = issue_key(trader, tier="pro")
    free, free_secret = issue_key(trader, tier="unlimited")
    # The per-IP ceiling (for requests without a key) is far below the pro key's limit.
    with override_settings(API_RATE_LIMITS=TIERS, API_RATE_LIMIT_IP_WEIGHT_1M=30):
        for _ in range(5):  # 100 weight: above the IP and default limits, within pro's 200
            response = api.signed("GET", "/api/v3/account", key=pro.key, secret=pro_secret)
            assert response.status_code == 200
        for _ in range(20):
            response = api.signed("GET", "/api/v3/account", key=free.key, secret=free_secret)
            assert response.status_code == 200
        # Public requests from the same address are held to the IP limit.
        assert api.get("/api/v3/ping").status_code == 429


def test_order_rate_limit_1015(signed_api: ApiClient) -> None:
    with override_settings(API_RATE_LIMITS=TIERS):
        for count in ("1", "2"):
            response = signed_api.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT"})
            assert response.json()["code"] == -1102  # counted even though it fails later
            assert response["X-MBX-ORDER-COUNT-10S"] == count
        refused = signed_api.signed("POST", "/api/v3/order", {"symbol": "BTCUSDT"})
    assert refused.status_code == 429
    assert refused.json() == {
        "code": -1015,
        "msg": "Too many new orders; current limit is 2 orders per 10 SECOND.",
    }
    assert 1 <= int(refused["Retry-After"]) <= 10


def test_unlimited_tier_counts_in_process_without_redis(api: ApiClient, trader: Any) -> None:
    from exchange_site.redis import get_redis

    free, free_secret = issue_key(trader, tier="unlimited")
    with override_settings(API_RATE_LIMITS=TIERS):
        first = api.signed("GET", "/api/v3/account", key=free.key, secret=free_secret)
        second = api.signed("GET", "/api/v3/account", key=free.key, secret=free_secret)
    assert first.status_code == second.status_code == 200
    # Counted (this process's share), never refused, and no counter kept in Redis for it.
    assert int(second["X-MBX-USED-WEIGHT-1M"]) == int(first["X-MBX-USED-WEIGHT-1M"]) + 20
    assert not list(get_redis().scan_iter(f"rl:*:key:{free.id}:*"))
