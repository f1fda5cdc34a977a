"""TRUSTED_PROXIES: X-Forwarded-For names the client only when a trusted proxy sent it, on the
lean API front and through Django alike (rate limits, API-key IP allow-lists, login lockout)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from accounts.models import User
from exchange_site.clientip import client_ip, networks_parse
from tests.api_client import ApiClient, issue_key

PROXIES = networks_parse("10.0.0.0/8, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.2", "198.51.100.1", "198.51.100.1"),  # our proxy appended the client
        ("10.0.0.2", "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # the client's own claim skipped
        ("10.0.0.2", "198.51.100.1, 10.1.1.1", "198.51.100.1"),  # two proxies of ours
        ("10.0.0.2", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # only proxies: the farthest one
        ("10.0.0.2", "garbage, 10.1.1.1", "10.1.1.1"),  # unverifiable left part
        ("10.0.0.2", "198.51.100.1:4711", "198.51.100.1"),  # with a port
        ("10.0.0.2", "", "10.0.0.2"),
        ("2001:db8::5", "[2001:db8:1::1]:80, 2a00::1", "2a00::1"),
        ("::ffff:10.0.0.2", "198.51.100.1", "198.51.100.1"),  # v4-mapped peer
    ],
)
def test_client_ip(peer: str, xff: str, expected: str) -> None:
    assert client_ip(peer, xff, PROXIES) == expected


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_ip("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"


@pytest.mark.parametrize("transport", ["asgi", "django"])
@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_ip_allowlist_sees_the_client_behind_a_trusted_proxy(
    api: ApiClient, trader: User, transport: str
) -> None:
    key, secret = issue_key(trader, ip_allowlist="198.51.100.7/32")
    api.key, api.secret, api.transport = key.key, secret, transport
    client = {"X-Forwarded-For": "198.51.100.7"}

    api.remote_addr = "10.0.0.2"  # the proxy
    assert api.signed("GET", "/api/v3/account", headers=client).status_code == 200
    # The same claim from a peer that is not a proxy, or another client behind the proxy.
    api.remote_addr = "203.0.113.9"
    refused = api.signed("GET", "/api/v3/account", headers=client)
    assert refused.status_code == 401 and refused.json()["code"] == -2015
    api.remote_addr = "10.0.0.2"
    other = api.signed("GET", "/api/v3/account", headers={"X-Forwarded-For": "198.51.100.8"})
    assert other.json()["code"] == -2015


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_rate_limit_buckets_are_per_client_behind_the_proxy(api: ApiClient) -> None:
    api.remote_addr = "10.0.0.2"

    def status(client: str) -> int:
        return api.get("/api/v3/time", headers={"X-Forwarded-For": client}).status_code

    with override_settings(API_RATE_LIMIT_IP_WEIGHT_1M=3):
        assert [status("198.51.100.1") for _ in range(4)] == [200, 200, 200, 429]
        # Another client behind the same proxy has its own bucket.
        assert status("198.51.100.2") == 200


@pytest.mark.django_db
def test_forwarded_proto_is_believed_only_from_a_trusted_proxy() -> None:
    # What settings/security.py sets when TRUSTED_PROXIES is configured.
    proxy_settings = {
        "TRUSTED_PROXIES": ["10.0.0.0/8"],
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "SECURE_SSL_REDIRECT": True,
    }
    with override_settings(**proxy_settings):
        from_proxy = Client(REMOTE_ADDR="10.0.0.2").get(
            "/accounts/login/", headers={"X-Forwarded-Proto": "https"}
        )
        assert from_proxy.status_code == 200
        spoofed = Client(REMOTE_ADDR="203.0.113.9").get(
            "/accounts/login/", headers={"X-Forwarded-Proto": "https"}
        )
        assert spoofed.status_code == 301
        assert spoofed["Location"].startswith("https://")
