"""Deposits: seen by the watcher or the webhook, credited once at the network's
confirmations, dropped or flagged on a reorg. Every flow ends with the ledger invariants."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from clearing.models import LedgerTransaction
from clearing.selectors import balance_get
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import DomainError
from wallet.chain.simulated import sim_mine, sim_pay, sim_reorg
from wallet.models import Deposit
from wallet.services.deposits import deposit_resolve
from wallet.services.networks import deposit_address_get_or_create
from wallet.tasks import chain_watch
from wallet.tests.conftest import WalletEnv, grant

S = Deposit.Status


def available(env: WalletEnv) -> Decimal:
    return balance_get(user_id=env.trader.pk, asset_id=env.network.asset_id).available


def test_address_is_made_once_per_user_and_network(wallet_env: WalletEnv) -> None:
    env = wallet_env
    first = deposit_address_get_or_create(user_id=env.trader.pk, coin="BTC")
    again = deposit_address_get_or_create(user_id=env.trader.pk, coin="BTC", network="BTC")
    assert first.pk == again.pk and first.address.startswith("simbtc1")
    other = deposit_address_get_or_create(user_id=env.finance.pk, coin="BTC")
    assert other.address != first.address
    env.network.deposit_enabled = False
    env.network.save()
    with pytest.raises(DomainError) as info:
        deposit_address_get_or_create(user_id=env.ops.pk, coin="BTC")
    assert info.value.code == -9101


def test_credit_at_confirmations_once(wallet_env: WalletEnv) -> None:
    env = wallet_env
    address = deposit_address_get_or_create(user_id=env.trader.pk, coin="BTC").address
    txid = sim_pay(chain="BTC", asset="BTC", address=address, amount=Decimal("0.7"))
    sim_pay(chain="BTC", asset="BTC", address="simbtc1" + "0" * 32, amount=Decimal(5))  # not ours
    chain_watch()
    deposit = Deposit.objects.get()
    assert (deposit.status, deposit.confirmations, deposit.txid) == (S.PENDING, 0, txid)
    sim_mine(chain="BTC", blocks=1)
    chain_watch()
    deposit.refresh_from_db()
    assert deposit.status == S.PENDING and deposit.confirmations == 1
    assert available(env) == Decimal(3)
    sim_mine(chain="BTC", blocks=1)
    chain_watch()
    chain_watch()
    deposit.refresh_from_db()
    assert deposit.status == S.CREDITED and deposit.credited_at is not None
    assert available(env) == Decimal("3.7")
    # Rescanning the chain from the start sees the same output: nothing more is credited.
    env.network.scan_cursor = 0
    env.network.save()
    chain_watch()
    assert Deposit.objects.count() == 1
    assert LedgerTransaction.objects.filter(key=f"deposit:BTC:{txid}:0").count() == 1
    assert available(env) == Decimal("3.7")
    sim_mine(chain="BTC", blocks=10)
    chain_watch()
    deposit.refresh_from_db()
    assert deposit.final_at is not None
    assert_ledger_invariants()


def test_reorg_before_credit_drops_after_credit_flags(wallet_env: WalletEnv) -> None:
    env = wallet_env
    address = deposit_address_get_or_create(user_id=env.trader.pk, coin="BTC").address
    early = sim_pay(chain="BTC", asset="BTC", address=address, amount=Decimal("1"))
    chain_watch()
    sim_reorg(chain="BTC", txid=early)
    sim_mine(chain="BTC", blocks=3)
    chain_watch()
    dropped = Deposit.objects.get(txid=early)
    assert dropped.status == S.DROPPED and dropped.credited_at is None
    assert available(env) == Decimal(3)

    late = sim_pay(chain="BTC", asset="BTC", address=address, amount=Decimal("2"))
    sim_mine(chain="BTC", blocks=2)
    chain_watch()
    assert Deposit.objects.get(txid=late).status == S.CREDITED
    assert available(env) == Decimal(5)
    sim_reorg(chain="BTC", txid=late)
    chain_watch()
    flagged = Deposit.objects.get(txid=late)
    assert flagged.status == S.CREDITED and flagged.flagged
    assert available(env) == Decimal(5)  # nothing taken back without an operator
    assert_ledger_invariants()

    with pytest.raises(DomainError) as info:
        deposit_resolve(deposit_id=flagged.pk, actor_id=env.finance.pk, reverse=True, note="x")
    assert "wallet.resolve_deposit" in info.value.msg
    operator = grant(env.ops, "resolve_deposit")
    deposit_resolve(deposit_id=flagged.pk, actor_id=operator.pk, reverse=True, note="reorged out")
    flagged.refresh_from_db()
    assert not flagged.flagged and flagged.resolution.startswith("reversed")
    assert available(env) == Decimal(3)
    assert_ledger_invariants()


def _signed_post(
    client: Client, secret: str, payload: dict[str, object]
) -> tuple[int, dict[str, Any]]:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    sig = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    response = client.post(
        "/wallet/webhooks/deposits", data=body, content_type="application/json",
        headers={"X-Timestamp": stamp, "X-Signature": sig},
    )  # fmt: skip
    return response.status_code, response.json()


def test_webhook_reports_are_signed_and_idempotent(wallet_env: WalletEnv, settings: object) -> None:
    env = wallet_env
    client = Client()
    assert (
        client.post(
            "/wallet/webhooks/deposits", data=b"{}", content_type="application/json"
        ).status_code
        == 404
    )
    settings.WALLET_WEBHOOK_SECRET = "hook-secret"  # type: ignore[attr-defined]
    address = deposit_address_get_or_create(user_id=env.trader.pk, coin="BTC").address
    report = {"coin": "BTC", "network": "BTC", "txid": "ab" * 32, "vout": 1, "address": address,
              "amount": "0.25", "confirmations": 1}  # fmt: skip
    status, body = _signed_post(client, "wrong", report)
    assert status == 401 and body["code"] == -1022
    status, body = _signed_post(client, "hook-secret", {**report, "amount": 0.25})
    assert status == 400 and body["code"] == -1100  # a float amount is refused
    status, body = _signed_post(client, "hook-secret", report)
    assert status == 200 and body["status"] == "PENDING"
    status, body = _signed_post(client, "hook-secret", {**report, "confirmations": 2})
    assert status == 200 and body["status"] == "CREDITED"
    status, body = _signed_post(client, "hook-secret", {**report, "confirmations": 3})
    assert status == 200 and body["status"] == "CREDITED"
    assert available(env) == Decimal("3.25")
    deposit = Deposit.objects.get()
    assert deposit.source == Deposit.Source.WEBHOOK and deposit.vout == 1
    status, body = _signed_post(client, "hook-secret", {**report, "address": "simbtc1" + "9" * 32})
    assert status == 400 and body["code"] == -4007
    assert_ledger_invariants()
