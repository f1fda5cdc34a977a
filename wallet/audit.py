"""The one place an operator's wallet action is recorded for audit.

Every operator action (approve, reject, retry, fail, cancel, resolve) goes through
wallet.services.withdrawals.withdrawal_operator_act or deposit_resolve, which call
`operator_action_record` inside the transaction that makes the change, so the record and the
change commit together. It writes the structured log line and the withdrawal's own history
(WithdrawalEvent, written by the caller); the platform-wide audit log (admin_rbac) plugs in here.
"""

from __future__ import annotations

import structlog

log = structlog.get_logger("wallet.audit")


def operator_action_record(*, actor_id: int, action: str, target: str, note: str = "") -> None:
    """Record that operator `actor_id` did `action` on `target` (caller's transaction)."""
    log.info("operator_action", actor_id=actor_id, action=action, target=target, note=note)
