"""Request-weight and order-rate limits (Redis, fixed windows)."""

from __future__ import annotations

from typing import Any

from django.test import override_settings

from accounts.apikeys import key_cached
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


# Charged only after the signature (issue 13, item 5) ------------------------------------------


def test_a_bad_signature_charges_nothing_to_the_key(api: ApiClient, trader: Any) -> None:
    """Knowing a victim's key id is not enough to spend its quota."""
    key, secret = issue_key(trader)
    with override_settings(API_RATE_LIMITS=TIERS):
        for _ in range(5):  # 100 weight against a 40 limit, if it were charged to the key
            forged = api.signed("GET", "/api/v3/account", key=key.key, secret="not-the-secret")
            assert forged.json()["code"] == -1022
        for _ in range(3):  # nor an order count
            forged = api.signed(
                "POST", "/api/v3/order", {"symbol": "BTCUSDT"}, key=key.key, secret="x"
            )
            assert forged.json()["code"] == -1022
            assert "X-MBX-ORDER-COUNT-10S" not in forged
        genuine = api.signed("GET", "/api/v3/account", key=key.key, secret=secret)
        assert genuine.status_code == 200
        assert genuine["X-MBX-USED-WEIGHT-1M"] == "20"  # the key's own first request
        order = api.signed(
            "POST", "/api/v3/order", {"symbol": "BTCUSDT"}, key=key.key, secret=secret
        )
        assert order["X-MBX-ORDER-COUNT-10S"] == "1"


def test_an_unlimited_key_with_a_bad_signature_is_held_to_the_ip_limit(
    api: ApiClient, trader: Any
) -> None:
    free, secret = issue_key(trader, tier="unlimited")
    with override_settings(API_RATE_LIMITS=TIERS, API_RATE_LIMIT_IP_WEIGHT_1M=50):
        for _ in range(2):  # 40 of the address's 50
            forged = api.signed("GET", "/api/v3/account", key=free.key, secret="x")
            assert forged.status_code == 400 and forged.json()["code"] == -1022
        refused = api.signed("GET", "/api/v3/account", key=free.key, secret="x")
        assert refused.status_code == 429, refused.content
        assert refused.json()["code"] == -1003
        assert "current limit is 50 request weight" in refused.json()["msg"]
        assert "Retry-After" in refused
        # An unknown key and no key at all are held to it just the same.
        assert api.signed("GET", "/api/v3/account", key="k" * 64, secret="x").status_code == 429
        assert api.signed("GET", "/api/v3/account", key="", secret="x").status_code == 429
        # The genuine key lifts the ceiling of its address.
        genuine = api.signed("GET", "/api/v3/account", key=free.key, secret=secret)
        assert genuine.status_code == 200


def test_over_the_ip_limit_made_up_keys_are_not_looked_up(api: ApiClient) -> None:
    """A flood of made-up keys from an address over its limit costs (almost) no query: keys
    not in the cache are looked up only within a small per-process budget."""
    made_up = [f"{n:02d}" * 32 for n in range(40)]
    with override_settings(API_RATE_LIMIT_IP_WEIGHT_1M=1):
        api.get("/api/v3/ping")
        for key in made_up:
            refused = api.signed("GET", "/api/v3/account", key=key, secret="x")
            assert refused.status_code == 429
            assert refused.json()["code"] == -1003
    looked_up = sum(key_cached(key) for key in made_up)
    assert 1 <= looked_up <= 20, looked_up  # the burst of 10, plus what refilled meanwhile


# Request size and cost ------------------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_before_it_is_read(api: ApiClient) -> None:
    for transport in ("asgi", "django"):
        api.transport = transport
        response = api.raw("POST", "/api/v3/order", body=b"a" * 65537)
        assert response.status_code == 413, (transport, response.content)
        assert response.json() == {
            "code": -1101,
            "msg": "Too many parameters; the request body is larger than 65536 bytes.",
        }
    api.transport = "asgi"


def test_too_many_fields_are_refused_before_they_are_parsed(api: ApiClient) -> None:
    # 'a&' * 1.3 M once cost a second of parsing on the event loop; within the byte cap:
    body = b"a&" * 30000
    response = api.raw("POST", "/api/v3/order", body=body)
    assert response.status_code == 400
    assert response.json() == {
        "code": -1101,
        "msg": "Too many parameters; expected '100' and received '30001'.",
    }
    query = "&".join(f"p{n}=1" for n in range(101))
    response = api.raw("GET", "/api/v3/ping", query=query)
    assert response.json()["code"] == -1101
    assert api.raw("GET", "/api/v3/ping", query=query[: query.rindex("&")]).status_code == 200


def test_klines_weigh_by_the_candles_asked_for(api: ApiClient) -> None:
    def used(**params: str) -> int:
        before = int(api.get("/api/v3/ping")["X-MBX-USED-WEIGHT-1M"])
        after = int(api.get("/api/v3/klines", {"interval": "1M", **params})["X-MBX-USED-WEIGHT-1M"])
        return after - before

    assert used(limit="100") == 2
    assert used() == 5  # the default limit, 500
    assert used(limit="1000") == 10


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
