"""The wallet endpoints (/sapi/v1/capital/..., contract section 10) as an unmodified ccxt
client sees them, against the real processes: deposit on the simulated chain, withdraw
through the approval queue, and the refusals."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest

from accounts.services import api_key_issue
from clearing.tests.helpers import assert_ledger_invariants
from tests.live import LiveStack, Trader
from tests.test_contract_ccxt import client
from wallet.chain.simulated import sim_address_new, sim_mine, sim_pay
from wallet.models import Withdrawal
from wallet.services.addressbook import address_book_add
from wallet.services.networks import network_upsert
from wallet.services.withdrawals import withdrawal_operator_act
from wallet.tests.conftest import grant

pytestmark = pytest.mark.django_db(transaction=True)


def wallet_client(stack: LiveStack, trader: Trader, **options: object) -> ccxt.binance:
    exchange = client(stack, trader, **options)
    exchange.urls["api"]["sapi"] = stack.base_url + "/sapi/v1"  # contract section 8
    return exchange


def eventually(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_deposit_trade_withdraw_through_the_queue(live_stack: LiveStack) -> None:
    network_upsert(coin="BTC", code="BTC", name="Bitcoin (simulated)", min_confirmations=2,
                   withdraw_fee=Decimal("0.0001"), withdraw_min=Decimal("0.001"))  # fmt: skip
    alice = live_stack.alice
    key, secret = api_key_issue(user=alice.user, permissions=["read", "trade", "withdraw"])
    ex = wallet_client(live_stack, Trader(alice.user, key.key, secret))

    deposit_address = ex.fetch_deposit_address("BTC")
    assert deposit_address["address"].startswith("simbtc1")
    assert ex.fetch_deposit_address("BTC")["address"] == deposit_address["address"]
    txid = sim_pay(
        chain="BTC", asset="BTC", address=deposit_address["address"], amount=Decimal("0.3")
    )
    pending = eventually(lambda: ex.fetch_deposits("BTC"), lambda d: len(d) == 1)
    assert pending[0]["status"] == "pending" and pending[0]["txid"] == txid
    sim_mine(chain="BTC", blocks=2)
    deposits = eventually(lambda: ex.fetch_deposits("BTC"), lambda d: d[0]["status"] == "ok")
    assert deposits[0]["status"] == "ok" and deposits[0]["amount"] == 0.3
    assert ex.fetch_balance()["BTC"]["free"] == pytest.approx(10.3)

    outside = sim_address_new("BTC")
    with pytest.raises(ccxt.ExchangeError, match="whitelist"):
        ex.withdraw("BTC", 0.2, outside)
    address_book_add(user_id=alice.user.pk, coin="BTC", address=outside, cooldown_s=0)
    with pytest.raises(ccxt.InsufficientFunds):
        ex.withdraw("BTC", 50, outside)
    reader = wallet_client(live_stack, alice)  # the fixture's key: read and trade only
    with pytest.raises(ccxt.AuthenticationError):
        reader.withdraw("BTC", 0.2, outside)

    applied = ex.withdraw("BTC", 0.2, outside, {"withdrawOrderId": "bot-7"})
    assert ex.withdraw("BTC", 0.2, outside, {"withdrawOrderId": "bot-7"})["id"] == applied["id"]
    assert ex.fetch_balance()["BTC"]["used"] == pytest.approx(0.2)
    listed = ex.fetch_withdrawals("BTC")
    assert [(w["id"], w["status"], w["amount"]) for w in listed] == [
        (applied["id"], "pending", 0.2)
    ]
    assert listed[0]["fee"]["cost"] == 0.0001 and listed[0]["timestamp"]

    operator = grant(live_stack.bob.user, "approve_withdrawal")
    withdrawal_operator_act(
        withdrawal_id=int(applied["id"]), actor_id=operator.pk, action="approve"
    )
    sent = eventually(lambda: ex.fetch_withdrawals("BTC"), lambda w: w[0]["txid"])
    assert sent[0]["status"] == "pending" and sent[0]["txid"]
    sim_mine(chain="BTC", blocks=2)
    done = eventually(lambda: ex.fetch_withdrawals("BTC"), lambda w: w[0]["status"] == "ok")
    assert done[0]["status"] == "ok" and done[0]["txid"] == sent[0]["txid"]
    assert Withdrawal.objects.get().status == Withdrawal.Status.CONFIRMED
    balance = ex.fetch_balance()["BTC"]
    assert (balance["free"], balance["used"]) == (pytest.approx(10.1), 0)

    ex.options["fetchCurrencies"] = True
    currencies = ex.fetch_currencies()
    network = currencies["BTC"]["networks"]["BTC"]
    assert network["withdraw"] and network["fee"] == 0.0001
    assert network["limits"]["withdraw"]["min"] == 0.001
    assert_ledger_invariants()
