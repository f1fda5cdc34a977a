"""The UI's wallet endpoints (/ui/api/wallet/...): the wallet services behind a session; the
withdrawal holds its amount through the ledger and the refusals change nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.test import Client

from accounts.models import User
from clearing.selectors import balance_get
from clearing.tests.helpers import assert_ledger_invariants
from wallet.chain.simulated import sim_address_new
from wallet.models import Withdrawal
from wallet.services.twofactor import totp_enable_begin, totp_enable_confirm
from wallet.tests.conftest import WalletEnv

W = "/ui/api/wallet"


def _client(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _post(c: Client, url: str, body: Any) -> Any:
    return c.post(url, data=json.dumps(body), content_type="application/json")


def test_overview_and_deposit_address(wallet_env: WalletEnv) -> None:
    c = _client(wallet_env.trader)
    data = c.get(W).json()
    assert [(n["coin"], n["network"], n["withdrawFee"]) for n in data["networks"]] == [
        ("BTC", "BTC", "0.00050000")
    ]
    assert [e["address"] for e in data["addressBook"]] == [wallet_env.address]
    assert data["addresses"] == [] and data["totpEnabled"] is False
    made = _post(c, W + "/address", {"coin": "BTC"}).json()
    assert made["address"].startswith("simbtc") and made["network"] == "BTC"
    assert _post(c, W + "/address", {"coin": "BTC"}).json() == made  # the same one again
    assert c.get(W).json()["addresses"] == [made]


def test_withdrawal_request_holds_then_cancel_releases(wallet_env: WalletEnv) -> None:
    c, uid = _client(wallet_env.trader), wallet_env.trader.pk
    asset_id = wallet_env.network.asset_id
    resp = _post(
        c, W + "/withdrawals", {"coin": "BTC", "address": wallet_env.address, "amount": "0.5"}
    )
    assert resp.status_code == 201, resp.content
    w = resp.json()
    assert (w["status"], w["amount"], w["fee"], w["cancellable"]) == (
        "REQUESTED",
        "0.50000000",
        "0.00050000",
        True,
    )
    assert Withdrawal.objects.get(pk=w["id"]).source == Withdrawal.Source.UI
    assert str(balance_get(user_id=uid, asset_id=asset_id).locked.normalize()) == "0.5"
    assert [x["id"] for x in c.get(W).json()["withdrawals"]] == [w["id"]]
    cancelled = _post(c, W + f"/withdrawals/{w['id']}/cancel", {}).json()
    assert cancelled["status"] == "CANCELLED" and cancelled["cancellable"] is False
    assert balance_get(user_id=uid, asset_id=asset_id).locked == 0
    assert_ledger_invariants()


def test_withdrawal_refusals_change_nothing(wallet_env: WalletEnv) -> None:
    c = _client(wallet_env.trader)
    elsewhere = sim_address_new("BTC")
    cases = [
        ({"coin": "BTC", "address": elsewhere, "amount": "0.5"}, -4035),  # not in the book
        ({"coin": "BTC", "address": wallet_env.address, "amount": "9"}, -4023),  # above max
        ({"coin": "BTC", "address": wallet_env.address, "amount": "0.123456789"}, -1111),
        ({"coin": "BTC", "address": wallet_env.address}, -1102),
        ({"coin": "DOGE", "address": wallet_env.address, "amount": "1"}, -4018),
    ]
    for body, code in cases:
        resp = _post(c, W + "/withdrawals", body)
        assert (resp.status_code, resp.json()["code"]) == (400, code), (body, resp.content)
        assert resp.json()["msg"]
    assert not Withdrawal.objects.exists()
    assert_ledger_invariants()


def test_address_book_with_two_factor(
    wallet_env: WalletEnv, code_for: Callable[[User, int], str]
) -> None:
    user = wallet_env.trader
    totp_enable_begin(user_id=user.pk)
    totp_enable_confirm(user_id=user.pk, code=code_for(user, 0))
    c = _client(user)
    address = sim_address_new("BTC")
    missing = _post(c, W + "/address-book", {"coin": "BTC", "address": address, "label": "cold"})
    assert missing.status_code == 400 and missing.json()["code"] == -4032
    added = _post(
        c,
        W + "/address-book",
        {"coin": "BTC", "address": address, "label": "cold", "totp": code_for(user, 1)},
    )
    assert added.status_code == 201, added.content
    assert added.json()["label"] == "cold" and added.json()["usable"] is False  # cool-down
    assert c.get(W).json()["totpEnabled"] is True
    assert c.delete(W + f"/address-book/{added.json()['id']}").status_code == 204
    assert [e["address"] for e in c.get(W).json()["addressBook"]] == [wallet_env.address]
