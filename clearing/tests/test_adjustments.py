"""Manual adjustments: maker-checker, posted through the ledger, both steps audited."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User
from admin_rbac.models import AuditEntry
from admin_rbac.services import Actor
from clearing.adjustments import adjustment_approve, adjustment_propose, adjustment_reject
from clearing.models import Adjustment, LedgerTransaction
from clearing.selectors import balance_get
from clearing.services import balance_credit_external
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import InsufficientFunds, InvalidInput
from wallet.models import Asset

D = Decimal


@pytest.fixture
def people(transactional_db: None) -> tuple[User, User, User, Asset]:
    trader = User.objects.create(username="tina")
    maker = User.objects.create(username="fin-a", is_staff=True)
    checker = User.objects.create(username="fin-b", is_staff=True)
    usdt = Asset.objects.create(code="USDT", precision=6)
    balance_credit_external(user_id=trader.pk, asset_id=usdt.pk, amount=D("100"), ref="t")
    return trader, maker, checker, usdt


def test_a_credit_needs_another_operator_then_posts_once(
    people: tuple[User, User, User, Asset],
) -> None:
    trader, maker, checker, usdt = people
    a = adjustment_propose(user_id=trader.pk, asset_id=usdt.pk, amount=D("25.5"),
                           reason="compensation #12", actor=Actor.of_user(maker))  # fmt: skip
    assert balance_get(user_id=trader.pk, asset_id=usdt.pk).available == D("100")
    with pytest.raises(InvalidInput, match="maker-checker"):
        adjustment_approve(adjustment_id=a.pk, actor=Actor.of_user(maker))
    approved = adjustment_approve(adjustment_id=a.pk, actor=Actor.of_user(checker), note="ok")
    assert approved.status == "APPROVED" and approved.ledger_transaction is not None
    assert balance_get(user_id=trader.pk, asset_id=usdt.pk).available == D("125.5")
    with pytest.raises(InvalidInput, match="already APPROVED"):
        adjustment_approve(adjustment_id=a.pk, actor=Actor.of_user(checker))
    assert LedgerTransaction.objects.filter(key=f"adjustment:{a.pk}").count() == 1
    entries = AuditEntry.objects.filter(target_type="clearing.adjustment").order_by("id")
    assert list(entries.values_list("action", "actor_name", "subject_user_id")) == [
        ("adjustment.propose", "fin-a", trader.pk),
        ("adjustment.approve", "fin-b", trader.pk),
    ]
    assert_ledger_invariants()


def test_a_debit_beyond_the_balance_is_refused_and_changes_nothing(
    people: tuple[User, User, User, Asset],
) -> None:
    trader, maker, checker, usdt = people
    a = adjustment_propose(user_id=trader.pk, asset_id=usdt.pk, amount=D("-150"),
                           reason="clawback", actor=Actor.of_user(maker))  # fmt: skip
    with pytest.raises(InsufficientFunds):
        adjustment_approve(adjustment_id=a.pk, actor=Actor.of_user(checker))
    a.refresh_from_db()
    assert a.status == "PROPOSED" and a.decided_by is None
    assert not AuditEntry.objects.filter(action="adjustment.approve").exists()
    rejected = adjustment_reject(adjustment_id=a.pk, actor=Actor.of_user(checker), note="too much")
    assert rejected.status == "REJECTED"
    assert balance_get(user_id=trader.pk, asset_id=usdt.pk).available == D("100")
    assert_ledger_invariants()


@pytest.mark.parametrize(("amount", "reason", "message"), [
    (D("0"), "x", "must not be zero"),
    (D("1.0000001"), "x", "6 decimals at most"),
    (D("1"), " ", "reason is required"),
])  # fmt: skip
def test_bad_proposals_are_refused(
    people: tuple[User, User, User, Asset], amount: Decimal, reason: str, message: str
) -> None:
    trader, maker, _, usdt = people
    with pytest.raises(InvalidInput, match=message):
        adjustment_propose(user_id=trader.pk, asset_id=usdt.pk, amount=amount, reason=reason,
                           actor=Actor.of_user(maker))  # fmt: skip
    assert not Adjustment.objects.exists() and not AuditEntry.objects.exists()


def test_the_database_refuses_a_self_approved_adjustment(
    people: tuple[User, User, User, Asset],
) -> None:
    trader, maker, _, usdt = people
    with pytest.raises(IntegrityError), transaction.atomic():
        Adjustment.objects.create(user=trader, asset=usdt, amount=D("1"), reason="x",
                                  proposed_by=maker, decided_by=maker)  # fmt: skip
