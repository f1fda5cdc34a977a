"""The money invariants of DESIGN.md, checked against the database.

Used by the tests (assert_ledger_invariants) and by the reconcile command and task.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Q, Sum

from .models import Hold, LedgerAccount, Posting

Kind = LedgerAccount.Kind


def hold_totals() -> dict[tuple[int, int], Decimal]:
    """Sum of what should be locked per (user_id, asset_id): every hold still holding funds."""
    rows = (
        Hold.objects.filter(amount__gt=0)
        .values("user_id", "asset_id")
        .annotate(total=Sum("amount"))
        .values_list("user_id", "asset_id", "total")
    )
    return {(user_id, asset_id): total for user_id, asset_id, total in rows}


def ledger_check_invariants() -> list[str]:
    """Return a description of every broken invariant; an empty list means all hold."""
    problems: list[str] = []

    posted = dict(
        Posting.objects.values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    locked_balances: dict[tuple[int, int], Decimal] = {}
    for account in LedgerAccount.objects.all().iterator():
        expected = posted.get(account.id, Decimal(0))
        if account.balance != expected:
            problems.append(
                f"account {account} balance {account.balance} != sum of postings {expected}"
            )
        if account.kind != Kind.EXTERNAL and account.balance < 0:
            problems.append(f"account {account} is negative: {account.balance}")
        if account.kind == Kind.LOCKED and account.user_id is not None:
            locked_balances[(account.user_id, account.asset_id)] = account.balance

    for asset_id, total in (
        Posting.objects.values("asset_id")
        .annotate(total=Sum("amount"))
        .values_list("asset_id", "total")
    ):
        if total != 0:
            problems.append(f"asset {asset_id}: postings sum to {total}, not 0")

    unbalanced = (
        Posting.objects.values("transaction_id", "asset_id")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .values_list("transaction_id", "asset_id", "total")
    )
    for txn_id, asset_id, total in unbalanced:
        problems.append(f"transaction {txn_id} asset {asset_id}: postings sum to {total}")

    holds = hold_totals()
    for key in sorted(set(holds) | set(locked_balances)):
        held = holds.get(key, Decimal(0))
        locked = locked_balances.get(key, Decimal(0))
        if held != locked:
            problems.append(f"user {key[0]} asset {key[1]}: locked {locked} != holds {held}")
    problems.extend(withdrawal_hold_problems())
    return problems


def withdrawal_hold_problems() -> list[str]:
    """Locked funds are the holds of open orders AND pending withdrawals: every pending
    withdrawal (requested, approved, processing) holds exactly its amount, and every other
    one's hold is closed (consumed by the send, or released)."""
    from wallet.models import PENDING_WITHDRAWAL, Withdrawal

    holds = {
        int(key.removeprefix("withdrawal:")): (amount, released_at)
        for key, amount, released_at in Hold.objects.filter(
            key__startswith="withdrawal:"
        ).values_list("key", "amount", "released_at")
    }
    problems: list[str] = []
    seen: set[int] = set()
    rows = Withdrawal.objects.filter(
        Q(pk__in=list(holds)) | Q(status__in=PENDING_WITHDRAWAL)
    ).values_list("pk", "status", "amount")
    for wid, status, amount in rows.iterator():
        seen.add(wid)
        hold = holds.get(wid)
        if hold is None:
            problems.append(f"withdrawal {wid} ({status}) has no hold")
        elif status in PENDING_WITHDRAWAL:
            if hold[0] != amount or hold[1] is not None:
                problems.append(f"withdrawal {wid} ({status}) holds {hold[0]}, not {amount}")
        elif hold[0] != 0 or hold[1] is None:
            problems.append(f"withdrawal {wid} is {status} but its hold of {hold[0]} is open")
    problems.extend(
        f"hold withdrawal:{wid} belongs to no withdrawal" for wid in sorted(set(holds) - seen)
    )
    return problems


def ledger_summary() -> dict[str, int]:
    from .models import LedgerTransaction

    return {
        "accounts": LedgerAccount.objects.count(),
        "transactions": LedgerTransaction.objects.count(),
        "postings": Posting.objects.count(),
    }
