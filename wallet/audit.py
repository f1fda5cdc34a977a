"""The one place an operator's wallet action is recorded for audit.

Every operator action (approve, reject, retry, fail, cancel, resolve) goes through
wallet.services.withdrawals.withdrawal_operator_act or deposit_resolve, which call
`operator_action_record` inside the transaction that makes the change, so the audit entry
(admin_rbac's append-only log) and the change commit together. The withdrawal's own history
(WithdrawalEvent) is written by the caller.
"""

from __future__ import annotations

import structlog
from django.db.models import Model

from accounts.models import User
from admin_rbac.services import Actor, audit_record

log = structlog.get_logger("wallet.audit")


def operator_action_record(
    *, actor_id: int, action: str, target: Model, before: str, after: str, note: str = ""
) -> None:
    """Record that operator `actor_id` did `action` ("withdrawal.approve") on `target`, which
    went from state `before` to `after` (caller's transaction)."""
    audit_record(
        actor=Actor.of_user(User.objects.get(pk=actor_id)),
        action=action,
        target=target,
        before={"status": before},
        after={"status": after},
        reason=note,
    )
    log.info("operator_action", actor_id=actor_id, action=action, target=str(target), note=note)
