"""/metrics is not public: a bearer token or an allow-listed address, otherwise a 404."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_loopback_reads_metrics_by_default() -> None:
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests" in response.content
    # The scrape-time gauges of the web process (alerts: WithdrawalStuck).
    assert b'exchange_withdrawals_oldest_seconds{status="APPROVED"} 0.0' in response.content
    assert b"exchange_withdrawals_stuck 0.0" in response.content
    assert b"exchange_websocket_connections_open 0.0" in response.content


def test_other_addresses_get_a_404() -> None:
    assert Client(REMOTE_ADDR="203.0.113.1").get("/metrics").status_code == 404


@override_settings(METRICS_TOKEN="scrape-token-123", METRICS_ALLOWED_IPS=[])
def test_the_token_opens_it_and_nothing_else_does() -> None:
    client = Client(REMOTE_ADDR="127.0.0.1")
    assert client.get("/metrics").status_code == 404
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 404
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert right.status_code == 200


@override_settings(METRICS_ALLOWED_IPS=["10.9.0.0/16"], TRUSTED_PROXIES=["10.0.0.0/24"])
def test_allow_list_applies_to_the_resolved_client() -> None:
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    # A client behind the proxy claiming an allowed address only gets it if the proxy says so.
    assert proxy.get("/metrics", headers={"X-Forwarded-For": "10.9.1.1"}).status_code == 200
    assert proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 404
    direct = Client(REMOTE_ADDR="203.0.113.1")
    assert direct.get("/metrics", headers={"X-Forwarded-For": "10.9.1.1"}).status_code == 404
