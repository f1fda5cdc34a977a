"""Balance events of the user data streams (clearing.balance_events): published after the commit
that moved the money, never for a rolled-back change; balanceUpdate for deposits, withdrawals
and adjustments, then the position. A real Redis subscriber on the user's channel stands in
for a web process holding the user's stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import transaction

from accounts.models import User
from admin_rbac.services import Actor
from clearing.adjustments import adjustment_approve, adjustment_propose
from clearing.models import LedgerAccount
from clearing.services import Leg, balance_credit_external, funds_lock_legs, ledger_post
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import InsufficientFunds
from wallet.models import Withdrawal
from wallet.services.withdrawals import withdrawal_cancel, withdrawal_request
from wallet.tests.conftest import WalletEnv

Kind = LedgerAccount.Kind


class Listener:
    def __init__(self, user_id: int) -> None:
        self.client = redis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self.pubsub.subscribe(f"ud:{user_id}")
        assert self.pubsub.get_message(timeout=1) is None  # the confirmation, consumed

    def events(self, wait: float = 0.5) -> list[dict[str, Any]]:
        got = []
        while (msg := self.pubsub.get_message(timeout=wait)) is not None:
            got.append(json.loads(msg["data"]))
        return got

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def listen() -> Iterator[Any]:
    listeners: list[Listener] = []

    def make(user_id: int) -> Listener:
        listeners.append(Listener(user_id))
        return listeners[-1]

    yield make
    for listener in listeners:
        listener.close()


def test_deposit_and_adjustment_send_balance_update_then_position(
    wallet_env: WalletEnv, listen: Any
) -> None:
    env = wallet_env
    btc = env.network.asset_id
    ear = listen(env.trader.pk)
    balance_credit_external(user_id=env.trader.pk, asset_id=btc, amount=Decimal("0.25"), ref="d")
    update, position = ear.events()
    assert (update["e"], update["a"], update["d"]) == ("balanceUpdate", "BTC", "0.25000000")
    assert update["T"] > 0 and update["E"] >= update["T"]
    assert position["e"] == "outboundAccountPosition"
    assert position["B"] == [{"a": "BTC", "f": "3.25000000", "l": "0.00000000"}]

    proposed = adjustment_propose(
        user_id=env.trader.pk, asset_id=btc, amount=Decimal("-0.05"), reason="fix",
        actor=Actor.of_user(env.finance),
    )  # fmt: skip
    assert ear.events(0.2) == []  # a proposal moves no money
    adjustment_approve(adjustment_id=proposed.pk, actor=Actor.of_user(env.finance2))
    update, position = ear.events()
    assert (update["e"], update["d"]) == ("balanceUpdate", "-0.05000000")
    assert position["B"] == [{"a": "BTC", "f": "3.20000000", "l": "0.00000000"}]
    assert_ledger_invariants()


def test_withdrawal_hold_and_release(wallet_env: WalletEnv, listen: Any) -> None:
    env = wallet_env
    ear = listen(env.trader.pk)
    w = withdrawal_request(
        user_id=env.trader.pk, coin="BTC", amount=Decimal("0.5"), address=env.address
    )
    update, position = ear.events()
    assert (update["e"], update["d"]) == ("balanceUpdate", "-0.50000000")
    assert position["B"] == [{"a": "BTC", "f": "2.50000000", "l": "0.50000000"}]
    assert w.status == Withdrawal.Status.REQUESTED  # above auto_approve_below: waits
    withdrawal_cancel(user_id=env.trader.pk, withdrawal_id=w.pk)
    update, position = ear.events()
    assert (update["e"], update["d"]) == ("balanceUpdate", "0.50000000")
    assert position["B"] == [{"a": "BTC", "f": "3.00000000", "l": "0.00000000"}]
    assert_ledger_invariants()


def test_rolled_back_posting_publishes_nothing(wallet_env: WalletEnv, listen: Any) -> None:
    env = wallet_env
    btc = env.network.asset_id
    ear = listen(env.trader.pk)
    # A posting inside a transaction that fails afterwards: rolled back, nothing published.
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_post(
            key="test:rollback", kind="deposit",
            legs=[Leg(None, btc, Kind.EXTERNAL, Decimal(-1)),
                  Leg(env.trader.pk, btc, Kind.AVAILABLE, Decimal(1))],
        )  # fmt: skip
        raise RuntimeError("after the posting")
    # A posting refused for funds writes nothing and publishes nothing either.
    with pytest.raises(InsufficientFunds), transaction.atomic():
        ledger_post(
            key="test:too-much", kind="order_hold",
            legs=funds_lock_legs(user_id=env.trader.pk, asset_id=btc, amount=Decimal(100)),
        )  # fmt: skip
    assert ear.events(1.0) == []
    # Inside a savepoint that rolls back, while the outer transaction commits: only the
    # committed posting is announced.
    with transaction.atomic():
        legs = funds_lock_legs(user_id=env.trader.pk, asset_id=btc, amount=Decimal(1))
        ledger_post(key="test:kept", kind="order_hold", legs=legs)
        with pytest.raises(RuntimeError), transaction.atomic():
            ledger_post(
                key="test:inner", kind="deposit",
                legs=[Leg(None, btc, Kind.EXTERNAL, Decimal(-7)),
                      Leg(env.trader.pk, btc, Kind.AVAILABLE, Decimal(7))],
            )  # fmt: skip
            raise RuntimeError("inner")
    (position,) = ear.events()
    assert position["B"] == [{"a": "BTC", "f": "2.00000000", "l": "1.00000000"}]


def test_nobody_listening_costs_no_event(wallet_env: WalletEnv, listen: Any) -> None:
    """Events go only to users with an open stream: another user's listener hears nothing."""
    env = wallet_env
    other = User.objects.create(username="someone-else")
    ear = listen(other.pk)
    balance_credit_external(
        user_id=env.trader.pk, asset_id=env.network.asset_id, amount=Decimal(1), ref="x"
    )
    assert ear.events(0.5) == []
