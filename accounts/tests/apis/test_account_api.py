"""GET /api/v3/account: balances from the ledger, flags from the key."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.test import override_settings

from clearing.services import balance_credit_external
from tests.api_client import (
    ApiClient,
    assert_matches_schema,
    issue_key,
    make_asset,
    make_user,
)


def account(api: ApiClient, **params: Any) -> Any:
    response = api.signed("GET", "/api/v3/account", params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert_matches_schema("GET", "/api/v3/account", body)
    return body


def test_account_balances_and_flags(signed_api: ApiClient, trader: Any) -> None:
    btc = make_asset("BTC")
    usdt = make_asset("USDT")
    make_asset("ETH")
    make_asset("DOGE", precision=2)
    balance_credit_external(user_id=trader.id, asset_id=btc.id, amount=Decimal("1.5"), ref="a1")
    balance_credit_external(user_id=trader.id, asset_id=usdt.id, amount=Decimal("1000"), ref="a2")
    body = account(signed_api)
    assert body["balances"] == [
        {"asset": "BTC", "free": "1.50000000", "locked": "0.00000000"},
        {"asset": "DOGE", "free": "0.00", "locked": "0.00"},  # the asset's own precision
        {"asset": "ETH", "free": "0.00000000", "locked": "0.00000000"},
        {"asset": "USDT", "free": "1000.00000000", "locked": "0.00000000"},
    ]
    assert body["uid"] == trader.id
    assert (body["canTrade"], body["canWithdraw"], body["canDeposit"]) == (True, False, False)
    assert (body["makerCommission"], body["takerCommission"]) == (10, 10)
    assert body["commissionRates"] == {
        "maker": "0.00100000",
        "taker": "0.00100000",
        "buyer": "0.00000000",
        "seller": "0.00000000",
    }
    assert (body["accountType"], body["permissions"]) == ("SPOT", ["SPOT"])
    assert "code" not in body
    nonzero = account(signed_api, omitZeroBalances="true")
    assert [b["asset"] for b in nonzero["balances"]] == ["BTC", "USDT"]
    explicit = account(signed_api, omitZeroBalances="false")
    assert len(explicit["balances"]) == 4


def test_read_only_key_cannot_trade(api: ApiClient, trader: Any) -> None:
    key, secret = issue_key(trader, permissions=["read"])
    api.key, api.secret = key.key, secret
    assert account(api)["canTrade"] is False


def test_commission_settings(signed_api: ApiClient) -> None:
    with override_settings(API_ACCOUNT_MAKER_FEE="0.0002", API_ACCOUNT_TAKER_FEE="0.0005"):
        body = account(signed_api)
    assert (body["makerCommission"], body["takerCommission"]) == (2, 5)
    assert body["commissionRates"]["taker"] == "0.00050000"


def test_other_users_balances_are_not_shown(signed_api: ApiClient, api: ApiClient) -> None:
    other = make_user()
    usdt = make_asset("USDT")
    balance_credit_external(user_id=other.id, asset_id=usdt.id, amount=Decimal("5"), ref="o1")
    assert account(signed_api)["balances"] == [
        {"asset": "USDT", "free": "0.00000000", "locked": "0.00000000"}
    ]


def test_bad_bool_parameter(signed_api: ApiClient) -> None:
    response = signed_api.signed("GET", "/api/v3/account", {"omitZeroBalances": "maybe"})
    assert response.status_code == 400
    assert response.json()["code"] == -1100
