"""The wallet's part of the money invariants, registered with clearing's reconcile
(clearing.invariants.HOLD_CHECKS) when the app starts."""

from __future__ import annotations

from django.db.models import Q

from clearing.models import Hold

from .models import PENDING_WITHDRAWAL, Withdrawal


def withdrawal_hold_problems() -> list[str]:
    """Locked funds are the holds of open orders AND pending withdrawals: every pending
    withdrawal (requested, approved, processing) holds exactly its amount, and every other
    one's hold is closed (consumed by the send, or released)."""
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
