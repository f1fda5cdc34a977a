from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from accounts.tests.factories import UserFactory
from clearing.invariants import ledger_check_invariants
from clearing.models import LedgerAccount, LedgerTransaction, Posting
from clearing.selectors import balance_get
from clearing.services import Leg, balance_credit_external, funds_lock_legs, ledger_post
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import InsufficientFunds, InvalidInput
from tests.threads import threads_run
from wallet.tests.factories import AssetFactory

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


def test_credit_moves_money_from_external_and_balances() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    assert balance_credit_external(
        user_id=user.id, asset_id=usdt.id, amount=Decimal("100.5"), ref="r1"
    )
    assert balance_get(user_id=user.id, asset_id=usdt.id).available == Decimal("100.5")
    external = LedgerAccount.objects.get(user=None, asset=usdt, kind=Kind.EXTERNAL)
    assert external.balance == Decimal("-100.5")
    assert_ledger_invariants()


def test_same_business_key_applies_once() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    assert balance_credit_external(user_id=user.id, asset_id=usdt.id, amount=Decimal(7), ref="dup")
    assert not balance_credit_external(
        user_id=user.id, asset_id=usdt.id, amount=Decimal(7), ref="dup"
    )
    assert balance_get(user_id=user.id, asset_id=usdt.id).available == Decimal(7)
    assert LedgerTransaction.objects.filter(key="deposit:dup").count() == 1
    assert Posting.objects.count() == 2
    assert_ledger_invariants()


def test_unbalanced_transaction_is_refused_and_writes_nothing() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    with pytest.raises(InvalidInput), transaction.atomic():
        ledger_post(
            key="bad", kind="test", legs=[Leg(user.id, usdt.id, Kind.AVAILABLE, Decimal(1))]
        )
    assert not LedgerTransaction.objects.exists()
    assert_ledger_invariants()


def test_overdraft_is_refused_and_changes_nothing() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    balance_credit_external(user_id=user.id, asset_id=usdt.id, amount=Decimal(10), ref="seed")
    with pytest.raises(InsufficientFunds), transaction.atomic():
        ledger_post(
            key="lock-too-much",
            kind="test",
            legs=funds_lock_legs(user_id=user.id, asset_id=usdt.id, amount=Decimal("10.01")),
        )
    balance = balance_get(user_id=user.id, asset_id=usdt.id)
    assert (balance.available, balance.locked) == (Decimal(10), Decimal(0))
    assert not LedgerTransaction.objects.filter(key="lock-too-much").exists()
    assert_ledger_invariants()


@pytest.mark.django_db(transaction=True)
def test_ledger_post_refuses_to_run_outside_a_transaction() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    legs = [
        Leg(None, usdt.id, Kind.EXTERNAL, Decimal(-1)),
        Leg(user.id, usdt.id, Kind.AVAILABLE, Decimal(1)),
    ]
    with pytest.raises(RuntimeError, match="inside a transaction"):
        ledger_post(key="k", kind="t", legs=legs)
    assert not LedgerTransaction.objects.exists()


def test_checker_catches_a_hand_broken_balance() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    balance_credit_external(user_id=user.id, asset_id=usdt.id, amount=Decimal(5), ref="seed")
    assert ledger_check_invariants() == []
    LedgerAccount.objects.filter(user=user, kind=Kind.AVAILABLE).update(balance=Decimal(6))
    problems = ledger_check_invariants()
    assert any("sum of postings" in p for p in problems), problems


def test_checker_catches_locked_funds_without_a_hold() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    balance_credit_external(user_id=user.id, asset_id=usdt.id, amount=Decimal(5), ref="seed")
    with transaction.atomic():
        ledger_post(
            key="orphan-lock",
            kind="test",
            legs=funds_lock_legs(user_id=user.id, asset_id=usdt.id, amount=Decimal(2)),
        )
    problems = ledger_check_invariants()
    assert any("locked 2" in p and "holds 0" in p for p in problems), problems


def test_checker_catches_a_posting_that_does_not_sum_to_zero() -> None:
    user, usdt = UserFactory.create(), AssetFactory.create(code="USDT")
    balance_credit_external(user_id=user.id, asset_id=usdt.id, amount=Decimal(5), ref="seed")
    posting = Posting.objects.filter(amount__gt=0).get()
    Posting.objects.filter(pk=posting.pk).update(amount=Decimal(4))
    problems = ledger_check_invariants()
    assert any("postings sum to" in p for p in problems), problems


@pytest.mark.django_db(transaction=True)
def test_concurrent_withdrawals_from_one_balance_never_overdraw() -> None:
    """N threads, each on its own connection, move money out of one balance at once."""
    alice, bob, usdt = UserFactory.create(), UserFactory.create(), AssetFactory.create(code="USDT")
    balance_credit_external(user_id=alice.id, asset_id=usdt.id, amount=Decimal(100), ref="seed")
    n_threads, per_thread, amount = 8, 10, Decimal(3)  # asks for 240 out of 100
    ok: list[int] = []
    refused: list[int] = []

    def work(t: int) -> None:
        for i in range(per_thread):
            try:
                with transaction.atomic(durable=True):
                    ledger_post(
                        key=f"move:{t}:{i}",
                        kind="transfer",
                        legs=[
                            Leg(alice.id, usdt.id, Kind.AVAILABLE, -amount),
                            Leg(bob.id, usdt.id, Kind.AVAILABLE, amount),
                        ],
                    )
                ok.append(1)
            except InsufficientFunds:
                refused.append(1)

    threads_run(work, n_threads)

    assert len(ok) == 33  # floor(100 / 3)
    assert len(refused) == n_threads * per_thread - 33
    a = balance_get(user_id=alice.id, asset_id=usdt.id).available
    b = balance_get(user_id=bob.id, asset_id=usdt.id).available
    assert a == Decimal(1) and b == Decimal(99)
    assert_ledger_invariants()


def test_order_hold_place_writes_what_ledger_post_would_and_refuses_short_funds() -> None:
    from clearing.holds import order_hold_place
    from clearing.models import Hold
    from orders.tests.factories import MarketFactory, _order

    market = MarketFactory.create()
    user = UserFactory.create()
    balance_credit_external(user_id=user.id, asset_id=market.quote_id, amount=Decimal(10), ref="h")
    order = _order(market, user, "BUY", Decimal(1), Decimal(3))
    with transaction.atomic():
        order_hold_place(
            order_id=order.id, user_id=user.id, asset_id=market.quote_id, amount=Decimal(3)
        )
    txn = LedgerTransaction.objects.get(key=f"order:{order.id}:hold")
    assert txn.kind == "order_hold"
    assert sorted((p.account.kind, p.amount) for p in Posting.objects.filter(transaction=txn)) == [
        ("AVAILABLE", Decimal(-3)),
        ("LOCKED", Decimal(3)),
    ]
    balance = balance_get(user_id=user.id, asset_id=market.quote_id)
    assert (balance.available, balance.locked) == (Decimal(7), Decimal(3))
    hold = Hold.objects.get(order=order)
    assert (hold.key, hold.amount, hold.original_amount) == (f"order:{order.id}", 3, 3)

    other = _order(market, user, "BUY", Decimal(1), Decimal(8))
    with pytest.raises(InsufficientFunds), transaction.atomic():
        order_hold_place(
            order_id=other.id, user_id=user.id, asset_id=market.quote_id, amount=Decimal(8)
        )
    assert not Hold.objects.filter(order=other).exists()
    assert not LedgerTransaction.objects.filter(key=f"order:{other.id}:hold").exists()
    balance = balance_get(user_id=user.id, asset_id=market.quote_id)
    assert (balance.available, balance.locked) == (Decimal(7), Decimal(3))
