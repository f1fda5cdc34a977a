"""/sapi/v1/capital/... through the production ASGI front: shapes match the served OpenAPI
schema, codes and messages of the refusals, the withdraw permission."""

from __future__ import annotations

from decimal import Decimal

from clearing.tests.helpers import assert_ledger_invariants
from tests.api_client import (  # noqa: F401 - fixtures
    ApiClient,
    _api_key_cache_isolated,
    api,
    assert_matches_schema,
    issue_key,
)
from wallet.chain.simulated import sim_mine, sim_pay
from wallet.tests.conftest import WalletEnv

CAPITAL = "/sapi/v1/capital"


def client(api: ApiClient, env: WalletEnv, *perms: str) -> ApiClient:  # noqa: F811
    key, secret = issue_key(env.trader, permissions=perms or ("read", "withdraw"))
    return ApiClient(api.runner, key=key.key, secret=secret)


def test_endpoints_match_their_schema(api: ApiClient, wallet_env: WalletEnv) -> None:  # noqa: F811
    bot = client(api, wallet_env)
    coins = bot.signed("GET", f"{CAPITAL}/config/getall").json()
    assert_matches_schema("GET", f"{CAPITAL}/config/getall", coins)
    btc = next(c for c in coins if c["coin"] == "BTC")
    assert btc["free"] == "3.00000000" and btc["networkList"][0]["minConfirm"] == 2
    assert "Simulated" in btc["networkList"][0]["specialTips"]

    address = bot.signed("GET", f"{CAPITAL}/deposit/address", {"coin": "BTC"}).json()
    assert_matches_schema("GET", f"{CAPITAL}/deposit/address", address)
    sim_pay(chain="BTC", asset="BTC", address=address["address"], amount=Decimal("0.1"))
    sim_mine(chain="BTC", blocks=1)
    from wallet.tasks import chain_watch

    chain_watch()
    deposits = bot.signed("GET", f"{CAPITAL}/deposit/hisrec", {"coin": "BTC"}).json()
    assert_matches_schema("GET", f"{CAPITAL}/deposit/hisrec", deposits)
    assert [(d["status"], d["confirmTimes"]) for d in deposits] == [(0, "1/2")]
    assert bot.signed("GET", f"{CAPITAL}/deposit/hisrec", {"status": 1}).json() == []

    applied = bot.signed(
        "POST", f"{CAPITAL}/withdraw/apply",
        {"coin": "BTC", "address": wallet_env.address, "amount": "0.5"},
    )  # fmt: skip
    assert applied.status_code == 200, applied.content
    assert_matches_schema("POST", f"{CAPITAL}/withdraw/apply", applied.json())
    history = bot.signed("GET", f"{CAPITAL}/withdraw/history").json()
    assert_matches_schema("GET", f"{CAPITAL}/withdraw/history", history)
    assert [(w["id"], w["status"], w["amount"]) for w in history] == [
        (applied.json()["id"], 2, "0.50000000")
    ]
    assert_ledger_invariants()


def test_refusals(api: ApiClient, wallet_env: WalletEnv) -> None:  # noqa: F811
    reader = client(api, wallet_env, "read", "trade")
    response = reader.signed(
        "POST", f"{CAPITAL}/withdraw/apply",
        {"coin": "BTC", "address": wallet_env.address, "amount": "0.5"},
    )  # fmt: skip
    assert (response.status_code, response.json()["code"]) == (401, -2015)

    bot = client(api, wallet_env)
    cases = [
        ({"coin": "DOGE", "address": wallet_env.address, "amount": "1"}, -4018),
        ({"coin": "BTC", "network": "TRX", "address": wallet_env.address, "amount": "1"}, -9103),
        ({"coin": "BTC", "address": "simbtc1" + "e" * 32, "amount": "1"}, -4035),
        ({"coin": "BTC", "address": wallet_env.address, "amount": "9"}, -4023),
        ({"coin": "BTC", "address": wallet_env.address, "amount": "4"}, -4026),
        ({"coin": "BTC", "address": wallet_env.address}, -1102),
        ({"coin": "BTC", "address": wallet_env.address, "amount": "1e3"}, -1100),
    ]
    for params, code in cases:
        body = bot.signed("POST", f"{CAPITAL}/withdraw/apply", params).json()
        assert body["code"] == code, (params, body)
    unknown = bot.signed("GET", "/sapi/v1/capital/nope")
    assert (unknown.status_code, unknown.json()["code"]) == (404, -1020)
    assert bot.signed("GET", f"{CAPITAL}/withdraw/history").json() == []
    assert_ledger_invariants()
