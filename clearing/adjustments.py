"""Manual adjustments with maker-checker (finance): propose, then another operator approves
(posting through the ledger) or rejects. Each step commits with its audit entry."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from admin_rbac.services import Actor, audit_record
from exchange_site.errors import InvalidInput
from wallet.models import Asset

from .models import Adjustment, LedgerAccount
from .services import Leg, ledger_post

Kind = LedgerAccount.Kind


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _view(a: Adjustment) -> dict[str, object]:
    return {"user_id": a.user_id, "asset_id": a.asset_id, "amount": a.amount,
            "status": a.status}  # fmt: skip


@transaction.atomic(durable=True)
def adjustment_propose(
    *, user_id: int, asset_id: int, amount: Decimal, reason: str, actor: Actor
) -> Adjustment:
    """Propose crediting (amount > 0) or debiting (amount < 0) a user's available balance. Moves
    no money. Audited; commits."""
    if actor.user_id is None:
        raise InvalidInput("an adjustment is proposed by an operator")
    if not reason.strip():
        raise InvalidInput("a reason is required")
    if amount == 0:
        raise InvalidInput("the amount must not be zero")
    asset = Asset.objects.get(pk=asset_id)
    if _decimals(amount) > asset.precision:
        raise InvalidInput(f"{asset.code} has {asset.precision} decimals at most")
    adjustment = Adjustment.objects.create(
        user_id=user_id, asset=asset, amount=amount, reason=reason, proposed_by_id=actor.user_id
    )
    audit_record(
        actor=actor, action="adjustment.propose", target=adjustment, after=_view(adjustment),
        reason=reason,
    )  # fmt: skip
    return adjustment


def _decide(adjustment_id: int, actor: Actor) -> Adjustment:
    adjustment = Adjustment.objects.select_for_update().get(pk=adjustment_id)
    if adjustment.status != Adjustment.Status.PROPOSED:
        raise InvalidInput(f"adjustment {adjustment_id} is already {adjustment.status}")
    if actor.user_id is None or actor.user_id == adjustment.proposed_by_id:
        raise InvalidInput("another operator than the proposer must decide (maker-checker)")
    adjustment.decided_by_id = actor.user_id
    adjustment.decided_at = timezone.now()
    return adjustment


@transaction.atomic(durable=True)
def adjustment_approve(*, adjustment_id: int, actor: Actor, note: str = "") -> Adjustment:
    """Approve and post: one ledger transaction "adjustment:<id>" between the user's available
    account and EXTERNAL. Refused for the proposer; InsufficientFunds (nothing written) when a
    debit exceeds the available balance. Locks the adjustment, then the accounts; audited."""
    adjustment = _decide(adjustment_id, actor)
    user_id, asset_id, amount = adjustment.user_id, adjustment.asset_id, adjustment.amount
    txn, _ = ledger_post(
        key=f"adjustment:{adjustment.pk}", kind="adjustment",
        legs=[Leg(user_id, asset_id, Kind.AVAILABLE, amount),
              Leg(None, asset_id, Kind.EXTERNAL, -amount)],
        memo=f"adjustment {adjustment.pk}: {adjustment.reason}"[:255],
    )  # fmt: skip
    before = _view(adjustment)
    adjustment.status = Adjustment.Status.APPROVED
    adjustment.decision_note = note
    adjustment.ledger_transaction = txn
    adjustment.save()
    audit_record(
        actor=actor, action="adjustment.approve", target=adjustment, before=before,
        after={**_view(adjustment), "ledger_transaction": txn.key}, reason=note,
        subject_user_id=user_id,
    )  # fmt: skip
    return adjustment


@transaction.atomic(durable=True)
def adjustment_reject(*, adjustment_id: int, actor: Actor, note: str) -> Adjustment:
    """Reject a proposal (another operator than the proposer). Moves no money; audited."""
    if not note.strip():
        raise InvalidInput("a reason is required")
    adjustment = _decide(adjustment_id, actor)
    before = _view(adjustment)
    adjustment.status = Adjustment.Status.REJECTED
    adjustment.decision_note = note
    adjustment.save()
    audit_record(
        actor=actor, action="adjustment.reject", target=adjustment, before=before,
        after=_view(adjustment), reason=note,
    )  # fmt: skip
    return adjustment
