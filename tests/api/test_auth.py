"""SIGNED requests end to end through the views: every authentication error path, in the
contract's check order (key, presence, signature, timing), and the key cache."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import override_settings

from accounts.models import ApiKey
from accounts.services import api_key_set_enabled
from tests.api_client import ApiClient, hmac_hex, issue_key, now_ms

ACCOUNT = "/api/v3/account"
CANCEL_ALL = "/api/v3/openOrders"  # a TRADE endpoint


def error(response: Any) -> tuple[int, int, str]:
    body = response.json()
    assert response["Content-Type"] == "application/json"
    assert set(body) == {"code", "msg"}
    return response.status_code, body["code"], body["msg"]


KEY_FORMAT = (401, -2014, "API-key format invalid.")
KEY_REJECTED = (401, -2015, "Invalid API-key, IP, or permissions for action.")
BAD_SIGNATURE = (400, -1022, "Signature for this request is not valid.")


def test_signed_request_succeeds(signed_api: ApiClient) -> None:
    response = signed_api.signed("GET", ACCOUNT)
    assert response.status_code == 200, response.content
    assert response.json()["canTrade"] is True


def test_missing_key_header(signed_api: ApiClient) -> None:
    response = signed_api.raw("GET", ACCOUNT, query=f"timestamp={now_ms()}&signature=00")
    assert error(response) == KEY_FORMAT


@pytest.mark.parametrize("header", ["", "short", "x" * 63, "x" * 65, "é" * 64, "a" * 63 + "!"])
def test_malformed_key_header(signed_api: ApiClient, header: str) -> None:
    response = signed_api.signed("GET", ACCOUNT, headers={"X-MBX-APIKEY": header})
    if header == "":  # an empty header is a missing one
        response = signed_api.raw("GET", ACCOUNT, headers={"X-MBX-APIKEY": ""})
    assert error(response) == KEY_FORMAT


def test_unknown_key(signed_api: ApiClient) -> None:
    response = signed_api.signed("GET", ACCOUNT, key="k" * 64)
    assert error(response) == KEY_REJECTED


def test_disabled_key_and_inactive_user(signed_api: ApiClient, trader: Any) -> None:
    key = ApiKey.objects.get(key=signed_api.key)
    api_key_set_enabled(api_key=key, enabled=False)
    # The lookup was not cached yet (no request made with this key): refused at once.
    assert error(signed_api.signed("GET", ACCOUNT)) == KEY_REJECTED
    api_key_set_enabled(api_key=key, enabled=True)
    trader.is_active = False
    trader.save(update_fields=["is_active"])
    with override_settings(API_KEY_CACHE_TTL=0):
        assert error(signed_api.signed("GET", ACCOUNT)) == KEY_REJECTED


def test_disabling_takes_effect_within_the_cache_ttl(signed_api: ApiClient) -> None:
    with override_settings(API_KEY_CACHE_TTL=0.3):
        assert signed_api.signed("GET", ACCOUNT).status_code == 200
        api_key_set_enabled(api_key=ApiKey.objects.get(key=signed_api.key), enabled=False)
        time.sleep(0.35)
        assert error(signed_api.signed("GET", ACCOUNT)) == KEY_REJECTED


def test_ip_allow_list(api: ApiClient, trader: Any) -> None:
    key, secret = issue_key(trader, ip_allowlist="10.0.0.0/8, 192.168.1.7")
    api.key, api.secret = key.key, secret
    assert error(api.signed("GET", ACCOUNT)) == KEY_REJECTED  # from 127.0.0.1
    api.remote_addr = "10.20.30.40"
    assert api.signed("GET", ACCOUNT).status_code == 200
    api.remote_addr = "192.168.1.7"
    assert api.signed("GET", ACCOUNT).status_code == 200
    api.remote_addr = "192.168.1.8"
    assert error(api.signed("GET", ACCOUNT)) == KEY_REJECTED


def test_unparsable_stored_allow_list_fails_closed(api: ApiClient, trader: Any) -> None:
    key, secret = issue_key(trader)
    ApiKey.objects.filter(pk=key.pk).update(ip_allowlist="not-an-ip")
    api.key, api.secret = key.key, secret
    assert error(api.signed("GET", ACCOUNT)) == KEY_REJECTED


def test_permissions(api: ApiClient, trader: Any) -> None:
    read_only, read_secret = issue_key(trader, permissions=["read"])
    trade_only, trade_secret = issue_key(trader, permissions=["trade"])
    # USER_DATA needs read, TRADE needs trade.
    ok = api.signed("GET", ACCOUNT, key=read_only.key, secret=read_secret)
    assert ok.status_code == 200 and ok.json()["canTrade"] is False
    as_reader: dict[str, Any] = {"key": read_only.key, "secret": read_secret}
    as_trader: dict[str, Any] = {"key": trade_only.key, "secret": trade_secret}
    refused = api.signed("DELETE", CANCEL_ALL, {"symbol": "BTCUSDT"}, **as_reader)
    assert error(refused) == KEY_REJECTED
    assert error(api.signed("GET", ACCOUNT, **as_trader)) == KEY_REJECTED
    # With the trade permission the request passes authentication (and fails later: -1121).
    passed = api.signed("DELETE", CANCEL_ALL, {"symbol": "NOPEUSDT"}, **as_trader)
    assert error(passed)[1] == -1121


def test_key_checked_before_signature_and_timing(signed_api: ApiClient) -> None:
    # An unknown key with a bad signature and an old timestamp: the key error wins.
    query = "timestamp=1&signature=" + "0" * 64
    response = signed_api.raw("GET", ACCOUNT, query=query, headers={"X-MBX-APIKEY": "k" * 64})
    assert error(response) == KEY_REJECTED


def test_missing_timestamp_or_signature(signed_api: ApiClient) -> None:
    headers = {"X-MBX-APIKEY": signed_api.key or ""}
    no_ts = "recvWindow=5000&signature=" + hmac_hex(signed_api.secret or "", "recvWindow=5000")
    assert error(signed_api.raw("GET", ACCOUNT, query=no_ts, headers=headers)) == (
        400,
        -1102,
        "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
    )
    no_sig = f"timestamp={now_ms()}"
    assert error(signed_api.raw("GET", ACCOUNT, query=no_sig, headers=headers)) == (
        400,
        -1102,
        "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    )
    empty_sig = f"timestamp={now_ms()}&signature="
    assert error(signed_api.raw("GET", ACCOUNT, query=empty_sig, headers=headers))[1] == -1102


def test_bad_signature(signed_api: ApiClient) -> None:
    assert error(signed_api.signed("GET", ACCOUNT, secret="not-the-secret")) == BAD_SIGNATURE
    # Signature checked before timing: an old timestamp with a bad signature is -1022.
    assert error(signed_api.signed("GET", ACCOUNT, timestamp=1, secret="nope")) == BAD_SIGNATURE


def test_signature_accepts_upper_case_hex(signed_api: ApiClient) -> None:
    query = f"timestamp={now_ms()}"
    signature = hmac_hex(signed_api.secret or "", query).upper()
    response = signed_api.raw(
        "GET",
        ACCOUNT,
        query=f"{query}&signature={signature}",
        headers={"X-MBX-APIKEY": signed_api.key or ""},
    )
    assert response.status_code == 200


def test_tampered_parameter_breaks_the_signature(signed_api: ApiClient) -> None:
    query = f"omitZeroBalances=false&timestamp={now_ms()}"
    signature = hmac_hex(signed_api.secret or "", query)
    tampered = query.replace("false", "true") + f"&signature={signature}"
    response = signed_api.raw(
        "GET", ACCOUNT, query=tampered, headers={"X-MBX-APIKEY": signed_api.key or ""}
    )
    assert error(response) == BAD_SIGNATURE


def test_timing_errors(signed_api: ApiClient) -> None:
    old = signed_api.signed("GET", ACCOUNT, timestamp=now_ms() - 20_000, recv_window="10000")
    assert error(old) == (400, -1021, "Timestamp for this request is outside of the recvWindow.")
    ahead = signed_api.signed("GET", ACCOUNT, timestamp=now_ms() + 5_000)
    assert error(ahead) == (
        400,
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    too_wide = signed_api.signed("GET", ACCOUNT, recv_window="60001")
    assert error(too_wide) == (400, -1131, "recvWindow must be less than 60000")
    assert signed_api.signed("GET", ACCOUNT, recv_window="60000").status_code == 200
    assert signed_api.signed("GET", ACCOUNT, recv_window="10000.125").status_code == 200
    assert signed_api.signed("GET", ACCOUNT, recv_window=None).status_code == 200  # default 5000
    microseconds = signed_api.signed("GET", ACCOUNT, timestamp=now_ms() * 1000)
    assert microseconds.status_code == 200


def test_replayed_request_is_refused_outside_its_window(signed_api: ApiClient) -> None:
    query = f"timestamp={now_ms()}&recvWindow=300"
    captured = f"{query}&signature={hmac_hex(signed_api.secret or '', query)}"
    headers = {"X-MBX-APIKEY": signed_api.key or ""}
    assert signed_api.raw("GET", ACCOUNT, query=captured, headers=headers).status_code == 200
    time.sleep(0.4)
    replay = signed_api.raw("GET", ACCOUNT, query=captured, headers=headers)
    assert error(replay) == (400, -1021, "Timestamp for this request is outside of the recvWindow.")


def test_signed_params_in_body_for_post_and_delete(signed_api: ApiClient) -> None:
    # python-binance sends DELETE parameters (and the signature) in a form body.
    response = signed_api.signed("DELETE", CANCEL_ALL, {"symbol": "NOPEUSDT"}, in_body=True)
    assert error(response) == (400, -1121, "Invalid symbol.")
    # Parameters split between query and body, signature over query + body.
    ts = now_ms()
    query = "symbol=NOPEUSDT"
    body = f"timestamp={ts}"
    signature = hmac_hex(signed_api.secret or "", query + body)
    split = signed_api.raw(
        "DELETE",
        CANCEL_ALL,
        query=query,
        body=f"{body}&signature={signature}",
        headers={"X-MBX-APIKEY": signed_api.key or ""},
    )
    assert error(split) == (400, -1121, "Invalid symbol.")


def test_public_endpoint_ignores_a_key_header(api: ApiClient) -> None:
    response = api.get("/api/v3/ping", headers={"X-MBX-APIKEY": "garbage"})
    assert response.status_code == 200 and response.json() == {}


def test_last_used_at_written_at_most_once_a_minute(signed_api: ApiClient) -> None:
    key = ApiKey.objects.get(key=signed_api.key)
    assert key.last_used_at is None
    assert signed_api.signed("GET", ACCOUNT).status_code == 200
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    assert signed_api.signed("GET", ACCOUNT).status_code == 200
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
