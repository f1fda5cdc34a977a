"""The withdrawal workflow: a persisted state machine whose every step commits before its side
effect (docs/wallet.md).

    REQUESTED (hold placed) -> APPROVED -> PROCESSING -> SENT -> CONFIRMED
    REQUESTED/APPROVED -> CANCELLED (user or operator) / REJECTED (operator)
    PROCESSING -> FAILED (final backend error; operator) / CANCELLED (operator)
    SENT -> FAILED with a refund (operator, only when the backend no longer knows the tx)

Sending (withdrawal_send, run by the Celery task wallet.withdrawal_process):
1. commit PROCESSING (the idempotency key was stored with the request);
2. take the withdrawal's send lock (a PostgreSQL session advisory lock: one sender at a time,
   released by PostgreSQL if the worker dies), re-read the state, call backend.send with the
   key: a repeated call returns the first call's transaction and sends nothing;
3. commit SENT with the txid, consuming the hold (LOCKED -> EXTERNAL + FEES) in the same
   transaction.
A worker killed anywhere leaves APPROVED or PROCESSING behind; the sweep task re-drives it and
step 2 finds the send if it happened. An operator's fail/cancel of a PROCESSING withdrawal
takes the same lock (try-only) and asks the backend whether the key was sent, so it can never
release funds that left.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import User
from clearing.withdrawal_holds import (
    withdrawal_hold_consume,
    withdrawal_hold_place,
    withdrawal_hold_release,
    withdrawal_refund,
)
from exchange_site.errors import InsufficientFunds
from exchange_site.money import quantize_down
from wallet import errors
from wallet.audit import operator_action_record
from wallet.chain import ChainFinalError, ChainRetryableError, backend_for
from wallet.models import (
    AddressBookEntry,
    Network,
    WalletProfile,
    Withdrawal,
    WithdrawalApproval,
    WithdrawalEvent,
    WithdrawalLimit,
)

from .networks import network_resolve
from .twofactor import totp_require

log = structlog.get_logger(__name__)
S = Withdrawal.Status
# Requests that count against the limits (everything not given back).
COUNTED = (S.REQUESTED, S.APPROVED, S.PROCESSING, S.SENT, S.CONFIRMED)
# Advisory lock namespace of the per-withdrawal send lock (two-int form: namespace, id).
SEND_LOCK_NS = 0x57445257  # "WDRW"
APPROVE_PERM = "wallet.approve_withdrawal"
OPERATE_PERM = "wallet.operate_withdrawal"
OPERATOR_ACTIONS = ("approve", "reject", "retry", "fail", "cancel")


# --------------------------------------------------------------------------- request


def withdrawal_request(
    *,
    user_id: int,
    coin: str,
    address: str,
    amount: Decimal,
    network: str | None = None,
    address_tag: str = "",
    withdraw_order_id: str | None = None,
    totp_code: str | None = None,
    source: str = Withdrawal.Source.API,
) -> Withdrawal:
    """Request a withdrawal: validate, check the second factor, then in one transaction check
    the address book and the limits, insert the withdrawal and place its hold; auto-approve a
    verified user's small withdrawal and enqueue its processing after commit.

    Refusals, first failure wins: asset/network (-4018/-9103), withdrawals suspended (-4019),
    precision (-1111), minimum (-4022), fee (-4028), maximum (-4023), address format (-4007),
    same withdrawOrderId for another withdrawal (-9102; the same request again returns the
    first withdrawal), second factor (-4032), address book (-4035) and its cool-down (-4036),
    24 h / 30 day limits (-4023), balance (-4026).
    """
    net = network_resolve(coin=coin, network=network)
    if not net.withdraw_enabled:
        raise errors.withdraw_disabled(coin, net.code)
    places = net.asset.precision
    if quantize_down(amount, places) != amount:
        raise errors.precision(places)
    if amount < net.withdraw_min:
        raise errors.below_minimum(net.withdraw_min)
    if amount <= net.withdraw_fee:
        raise errors.not_above_fee(net.withdraw_fee)
    if amount > net.withdraw_max:
        raise errors.above_maximum(net.withdraw_max)
    if not backend_for(net).address_valid(network=net, address=address, tag=address_tag):
        raise errors.address_invalid(address, net.code)
    if withdraw_order_id:
        existing = _same_request(user_id, withdraw_order_id, net, address, address_tag, amount)
        if existing is not None:
            return existing
    totp_require(user_id=user_id, code=totp_code)
    try:
        return _withdrawal_create(
            user_id=user_id, network=net, address=address, address_tag=address_tag,
            amount=amount, withdraw_order_id=withdraw_order_id or None, source=source,
        )  # fmt: skip
    except IntegrityError:
        # A concurrent request with the same withdrawOrderId committed first.
        if withdraw_order_id:
            existing = _same_request(user_id, withdraw_order_id, net, address, address_tag, amount)
            if existing is not None:
                return existing
        raise


def _same_request(
    user_id: int,
    withdraw_order_id: str,
    net: Network,
    address: str,
    tag: str,
    amount: Decimal,
) -> Withdrawal | None:
    existing = Withdrawal.objects.filter(
        user_id=user_id, withdraw_order_id=withdraw_order_id
    ).first()
    if existing is None:
        return None
    same = (existing.network_id, existing.address, existing.address_tag, existing.amount) == (
        net.pk,
        address,
        tag,
        amount,
    )
    if not same:
        raise errors.duplicate_client_id()
    return existing


@transaction.atomic(durable=True)
def _withdrawal_create(
    *,
    user_id: int,
    network: Network,
    address: str,
    address_tag: str,
    amount: Decimal,
    withdraw_order_id: str | None,
    source: str,
) -> Withdrawal:
    now = timezone.now()
    WalletProfile.objects.get_or_create(user_id=user_id)
    # Serialises one user's requests: the limits below count what the others committed.
    profile = WalletProfile.objects.select_for_update().get(user_id=user_id)
    entry = AddressBookEntry.objects.filter(
        user_id=user_id, network=network, address=address, tag=address_tag, removed_at=None
    ).first()
    if entry is None:
        raise errors.not_whitelisted()
    if entry.usable_at > now:
        hours = Decimal((entry.usable_at - now).total_seconds()) / 3600
        raise errors.cooling_down(hours.quantize(Decimal("0.1")))
    _limits_check(profile, network, amount, now)

    required = 1
    if amount > network.dual_approval_above:
        required = 2
    elif profile.verified and amount < network.auto_approve_below:
        required = 0
    withdrawal = Withdrawal.objects.create(
        user_id=user_id,
        network=network,
        asset_id=network.asset_id,
        address=address,
        address_tag=address_tag,
        amount=amount,
        fee=network.withdraw_fee,
        withdraw_order_id=withdraw_order_id,
        idempotency_key=f"wd-{secrets.token_hex(16)}",
        approvals_required=required,
        source=source,
    )
    try:
        withdrawal_hold_place(
            withdrawal_id=withdrawal.pk,
            user_id=user_id,
            asset_id=network.asset_id,
            amount=amount,
        )
    except InsufficientFunds:
        raise errors.insufficient_balance() from None
    _event(withdrawal, None, "request", "", S.REQUESTED, "")
    if required == 0:
        withdrawal.auto_approved = True
        _transition(withdrawal, S.APPROVED, None, "auto_approve", "verified user, small amount")
        _enqueue_after_commit(withdrawal.pk)
    return withdrawal


def _limits_check(profile: WalletProfile, network: Network, amount: Decimal, now: datetime) -> None:
    limit = WithdrawalLimit.objects.filter(tier=profile.tier, asset_id=network.asset_id).first()
    if limit is None:
        return
    base = Withdrawal.objects.filter(
        user_id=profile.user_id, asset_id=network.asset_id, status__in=COUNTED
    )
    day = base.filter(requested_at__gte=now - timedelta(hours=24)).aggregate(s=Sum("amount"))["s"]
    day = day or Decimal(0)
    if day + amount > limit.daily:
        raise errors.daily_limit(limit.daily, day)
    month = base.filter(requested_at__gte=now - timedelta(days=30)).aggregate(s=Sum("amount"))["s"]
    month = month or Decimal(0)
    if month + amount > limit.monthly:
        raise errors.monthly_limit(limit.monthly, month)


# --------------------------------------------------------------------------- transitions


def _event(
    w: Withdrawal, actor_id: int | None, action: str, from_status: str, to_status: str, note: str
) -> None:
    WithdrawalEvent.objects.create(
        withdrawal=w,
        actor_id=actor_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )


_STAMPS: dict[str, str] = {
    S.APPROVED: "approved_at",
    S.PROCESSING: "processing_at",
    S.SENT: "sent_at",
    S.CONFIRMED: "confirmed_at",
}


def _transition(w: Withdrawal, to: str, actor_id: int | None, action: str, note: str) -> None:
    """Move a locked withdrawal to `to`, stamp it and record the event (caller's transaction)."""
    before = w.status
    now = timezone.now()
    w.status = to
    if to in _STAMPS:
        setattr(w, _STAMPS[to], now)
    if to in (S.CONFIRMED, S.CANCELLED, S.REJECTED, S.FAILED):
        w.finished_at = now
        w.stuck = False
    if to in (S.CANCELLED, S.REJECTED, S.FAILED) and note:
        w.reason = note[:255]
    w.save()
    _event(w, actor_id, action, before, to, note)


def _give_back(w: Withdrawal, to: str, actor_id: int | None, action: str, note: str) -> None:
    """End a withdrawal whose funds never left: release the hold, then the final state."""
    withdrawal_hold_release(withdrawal_id=w.pk)
    _transition(w, to, actor_id, action, note)


def _locked(withdrawal_id: int) -> Withdrawal:
    try:
        return (
            Withdrawal.objects.select_for_update(of=("self",))
            .select_related("network__asset")
            .get(pk=withdrawal_id)
        )
    except Withdrawal.DoesNotExist:
        raise errors.unknown_withdrawal() from None


def _enqueue_after_commit(withdrawal_id: int) -> None:
    # Looked up by name: wallet.tasks imports this module.
    transaction.on_commit(
        lambda: current_app.tasks["wallet.withdrawal_process"].delay(withdrawal_id)
    )


@transaction.atomic(durable=True)
def withdrawal_cancel(*, user_id: int, withdrawal_id: int) -> Withdrawal:
    """The user cancels their withdrawal, possible until processing starts: CANCELLED and the
    hold released. Locks the row (a worker starting it waits, then finds it cancelled)."""
    w = _locked(withdrawal_id)
    if w.user_id != user_id:
        raise errors.unknown_withdrawal()
    if w.status not in (S.REQUESTED, S.APPROVED):
        raise errors.cannot_cancel(w.status)
    _give_back(w, S.CANCELLED, user_id, "cancel", "cancelled by the user")
    return w


# --------------------------------------------------------------------------- operator


@transaction.atomic(durable=True)
def withdrawal_operator_act(
    *, withdrawal_id: int, actor_id: int, action: str, reason: str = ""
) -> Withdrawal:
    """Every operator action on a withdrawal, permission-checked and audited in the
    transaction that makes it:

    approve  REQUESTED: one more distinct approver (not the requester); enough -> APPROVED
    reject   REQUESTED/APPROVED -> REJECTED, hold released (reason required)
    retry    APPROVED/PROCESSING: clear `stuck`, enqueue processing again
    cancel   REQUESTED/APPROVED -> CANCELLED; PROCESSING -> CANCELLED only if nothing was sent
    fail     PROCESSING -> FAILED only if nothing was sent (else it becomes SENT);
             SENT whose transaction the chain no longer has -> FAILED, amount refunded
    """
    if action not in OPERATOR_ACTIONS:
        raise errors.not_allowed(f"Unknown action {action!r}.")
    actor = User.objects.get(pk=actor_id)
    needed = APPROVE_PERM if action in ("approve", "reject") else OPERATE_PERM
    if not (actor.is_active and actor.has_perm(needed)):
        raise errors.not_allowed(f"You lack the permission {needed}.")
    if action in ("reject", "fail", "cancel") and not reason.strip():
        raise errors.not_allowed("A reason is required.")
    w = _locked(withdrawal_id)
    before = w.status
    if action == "approve":
        _approve(w, actor_id, reason)
    elif action == "reject":
        if w.status not in (S.REQUESTED, S.APPROVED):
            raise errors.not_allowed(
                f"Only a withdrawal awaiting processing can be rejected ({w.status})."
            )
        _give_back(w, S.REJECTED, actor_id, "reject", reason)
    elif action == "retry":
        if w.status not in (S.APPROVED, S.PROCESSING):
            raise errors.not_allowed(
                f"Only an approved or processing withdrawal can be retried ({w.status})."
            )
        w.stuck, w.attempts, w.last_error, w.retry_at = False, 0, "", None
        w.save(update_fields=["stuck", "attempts", "last_error", "retry_at", "updated_at"])
        _event(w, actor_id, "retry", w.status, w.status, reason)
        _enqueue_after_commit(w.pk)
    elif w.status in (S.REQUESTED, S.APPROVED):
        _give_back(w, S.CANCELLED if action == "cancel" else S.FAILED, actor_id, action, reason)
    elif w.status == S.PROCESSING:
        _end_processing(w, actor_id, action, reason)
    elif w.status == S.SENT and action == "fail":
        _fail_sent(w, actor_id, reason)
    else:
        raise errors.not_allowed(f"A {w.status.lower()} withdrawal cannot be {action}ed.")
    operator_action_record(
        actor_id=actor_id,
        action=f"withdrawal.{action}",
        target=w,
        before=before,
        after=w.status,
        note=reason,
    )
    return w


def _approve(w: Withdrawal, actor_id: int, note: str) -> None:
    if w.status != S.REQUESTED:
        raise errors.not_allowed(f"Only a requested withdrawal can be approved ({w.status}).")
    if w.user_id == actor_id:
        raise errors.not_allowed("Nobody approves their own withdrawal.")
    if WithdrawalApproval.objects.filter(withdrawal=w, approver_id=actor_id).exists():
        raise errors.not_allowed("You approved this withdrawal already; another approver must.")
    WithdrawalApproval.objects.create(withdrawal=w, approver_id=actor_id)
    count = WithdrawalApproval.objects.filter(withdrawal=w).count()
    if count >= w.approvals_required:
        _transition(w, S.APPROVED, actor_id, "approve", note)
        _enqueue_after_commit(w.pk)
    else:
        _event(w, actor_id, "approve", w.status, w.status, f"{count}/{w.approvals_required} {note}")


def _try_send_lock_xact(withdrawal_id: int) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", _lock_args(withdrawal_id))
        row = cur.fetchone()
    return bool(row and row[0])


def _end_processing(w: Withdrawal, actor_id: int, action: str, reason: str) -> None:
    if not _try_send_lock_xact(w.pk):
        raise errors.not_allowed("The withdrawal is being sent right now; look again in a moment.")
    txid = backend_for(w.network).send_lookup(network=w.network, idempotency_key=w.idempotency_key)
    if txid is not None:
        # It went out: the only truthful state is SENT (the refusal below commits nothing else).
        _mark_sent_locked(w, txid, actor_id, f"found sent while trying to {action}: {reason}")
        return
    _give_back(w, S.CANCELLED if action == "cancel" else S.FAILED, actor_id, action, reason)


def _fail_sent(w: Withdrawal, actor_id: int, reason: str) -> None:
    status = backend_for(w.network).tx_status(network=w.network, txid=w.txid)
    if status.found:
        raise errors.not_allowed("The transaction is on the chain; it cannot be failed.")
    withdrawal_refund(
        withdrawal_id=w.pk, user_id=w.user_id, asset_id=w.asset_id, amount=w.amount, fee=w.fee
    )
    _transition(w, S.FAILED, actor_id, "fail", reason)


# --------------------------------------------------------------------------- sending


def _lock_args(withdrawal_id: int) -> list[int]:
    # Two 32-bit keys; ids past 2^31 share a lock with a smaller one, which only serialises.
    return [SEND_LOCK_NS, withdrawal_id % 2**31]


@contextmanager
def _send_lock(withdrawal_id: int) -> Iterator[bool]:
    """Hold the withdrawal's send lock for the block (True), or yield False when another
    process holds it. Session-level: PostgreSQL drops it with a dead worker's connection."""
    if connection.in_atomic_block:
        raise RuntimeError("the send lock is taken outside transactions")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s, %s)", _lock_args(withdrawal_id))
        row = cur.fetchone()
    acquired = bool(row and row[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", _lock_args(withdrawal_id))


def withdrawal_send(*, withdrawal_id: int) -> str:
    """Drive an approved withdrawal to SENT (steps in the module docstring). Returns what
    happened: "sent", "failed" (final backend error, hold released), "busy" (another process
    is sending it), "skipped" (nothing to do). A retryable backend error is recorded and
    re-raised for the task to retry (after WALLET_SEND_MAX_ATTEMPTS it is left `stuck` for an
    operator and not raised)."""
    if not _processing_begin(withdrawal_id=withdrawal_id):
        return "skipped"
    with _send_lock(withdrawal_id) as acquired:
        if not acquired:
            return "busy"
        w = Withdrawal.objects.select_related("network__asset").get(pk=withdrawal_id)
        if w.status != S.PROCESSING:
            return "skipped"
        try:
            txid = backend_for(w.network).send(
                network=w.network,
                address=w.address,
                tag=w.address_tag,
                amount=w.amount - w.fee,
                idempotency_key=w.idempotency_key,
            )
        except ChainFinalError as exc:
            _send_failed(withdrawal_id=withdrawal_id, error=str(exc), final=True)
            return "failed"
        except ChainRetryableError as exc:
            if _send_failed(withdrawal_id=withdrawal_id, error=str(exc), final=False):
                return "stuck"
            raise
        _mark_sent(withdrawal_id=withdrawal_id, txid=txid)
    return "sent"


@transaction.atomic(durable=True)
def _processing_begin(*, withdrawal_id: int) -> bool:
    """APPROVED -> PROCESSING (committed before any send); True when there is a send to do."""
    w = Withdrawal.objects.select_for_update(of=("self",)).filter(pk=withdrawal_id).first()
    if w is None:
        return False
    if w.status == S.APPROVED:
        _transition(w, S.PROCESSING, None, "process", "")
        return True
    return w.status == S.PROCESSING


@transaction.atomic(durable=True)
def _mark_sent(*, withdrawal_id: int, txid: str) -> None:
    w = _locked(withdrawal_id)
    if w.status == S.PROCESSING:
        _mark_sent_locked(w, txid, None, "")


def _mark_sent_locked(w: Withdrawal, txid: str, actor_id: int | None, note: str) -> None:
    """PROCESSING -> SENT with the txid; the hold leaves for EXTERNAL and FEES."""
    withdrawal_hold_consume(withdrawal_id=w.pk, fee=w.fee)
    w.txid = txid
    w.stuck, w.last_error = False, ""
    _transition(w, S.SENT, actor_id, "sent", note or txid)


@transaction.atomic(durable=True)
def _send_failed(*, withdrawal_id: int, error: str, final: bool) -> bool:
    """Record a failed send. Final: FAILED and the hold released. Retryable: count it; True
    when the attempts are exhausted and the withdrawal is left `stuck` for an operator."""
    w = _locked(withdrawal_id)
    if w.status != S.PROCESSING:
        return True
    if final:
        log.warning("withdrawal.send_failed", withdrawal_id=w.pk, error=error)
        _give_back(w, S.FAILED, None, "send_failed", error)
        return True
    w.attempts += 1
    w.last_error = error[:1000]
    w.stuck = w.attempts >= settings.WALLET_SEND_MAX_ATTEMPTS
    w.retry_at = timezone.now() + timedelta(seconds=retry_delay_s(w.attempts))
    w.save(update_fields=["attempts", "last_error", "stuck", "retry_at", "updated_at"])
    if w.stuck:
        log.error("withdrawal.stuck", withdrawal_id=w.pk, attempts=w.attempts, error=error)
        _event(w, None, "stuck", w.status, w.status, error)
    return w.stuck


def withdrawals_refresh(*, network_id: int) -> int:
    """Confirm sent withdrawals of the network that reached its confirmations; flag one whose
    transaction vanished (stuck, for an operator). Returns how many were checked."""
    network = Network.objects.select_related("asset").get(pk=network_id)
    backend = backend_for(network)
    sent = Withdrawal.objects.filter(network=network, status=S.SENT, stuck=False).values_list(
        "pk", "txid"
    )
    count = 0
    for withdrawal_id, txid in sent:
        status = backend.tx_status(network=network, txid=txid)
        _confirmations_apply(
            withdrawal_id=withdrawal_id, found=status.found, confirmations=status.confirmations
        )
        count += 1
    return count


@transaction.atomic(durable=True)
def _confirmations_apply(*, withdrawal_id: int, found: bool, confirmations: int) -> None:
    w = _locked(withdrawal_id)
    if w.status != S.SENT:
        return
    if not found:
        w.stuck = True
        w.last_error = f"transaction {w.txid} is no longer on the chain"
        w.save(update_fields=["stuck", "last_error", "updated_at"])
        _event(w, None, "vanished", w.status, w.status, w.last_error)
        log.error("withdrawal.tx_vanished", withdrawal_id=w.pk, txid=w.txid)
        return
    w.confirmations = confirmations
    if confirmations >= w.network.min_confirmations:
        _transition(w, S.CONFIRMED, None, "confirm", f"{confirmations} confirmations")
    else:
        w.save(update_fields=["confirmations", "updated_at"])


def retry_delay_s(attempts: int) -> int:
    """Backoff after the `attempts`-th retryable send error: 2, 4, 8 ... 60 s."""
    return int(min(2 ** min(attempts, 6), 60))


def withdrawals_to_redrive(*, older_than_s: float) -> list[int]:
    """Approved or processing withdrawals untouched for `older_than_s`, not waiting for a
    scheduled retry and not left to an operator: their task was lost or its worker died."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_s)
    return list(
        Withdrawal.objects.filter(
            Q(retry_at__isnull=True) | Q(retry_at__lt=now - timedelta(seconds=older_than_s)),
            status__in=(S.APPROVED, S.PROCESSING),
            stuck=False,
            updated_at__lt=cutoff,
        ).values_list("pk", flat=True)[:500]
    )
