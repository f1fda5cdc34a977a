"""Deposits: seen on a chain (watcher or webhook), credited at the network's confirmations.

Identity is (chain, txid, vout): a report of the same output again updates the same row, and
the credit's ledger key `deposit:<chain>:<txid>:<vout>` applies it once whatever happens. A
deposit that vanishes from the chain before its credit is DROPPED; after it, it is flagged
(`reorged_at`) for an operator, who reverses the credit or accepts the loss (deposit_resolve).
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from clearing.withdrawal_holds import deposit_credit, deposit_reverse
from wallet import errors
from wallet.audit import operator_action_record
from wallet.chain import backend_for
from wallet.models import Deposit, DepositAddress, Network

log = structlog.get_logger(__name__)
S = Deposit.Status
SCAN_BATCH = 500


def deposits_scan(*, network_id: int, limit: int = SCAN_BATCH) -> int:
    """Look at the transfers the backend saw since the network's cursor; record those paying
    our addresses. Returns how many were ours. The cursor moves after they are recorded, so
    a crash re-reads them (recording is idempotent)."""
    network = Network.objects.select_related("asset").get(pk=network_id)
    transfers, cursor = backend_for(network).transfers(
        network=network, after=network.scan_cursor, limit=limit
    )
    ours = {
        (a.address, a.tag)
        for a in DepositAddress.objects.filter(
            network=network, address__in=[t.address for t in transfers]
        )
    }
    seen = 0
    for t in transfers:
        if (t.address, t.tag) in ours:
            deposit_observe(
                network_id=network.pk, txid=t.txid, vout=t.vout, address=t.address, tag=t.tag,
                amount=t.amount, confirmations=t.confirmations, found=True,
            )  # fmt: skip
            seen += 1
    if cursor != network.scan_cursor:
        Network.objects.filter(pk=network.pk, scan_cursor__lt=cursor).update(scan_cursor=cursor)
    return seen


def deposits_refresh(*, network_id: int) -> int:
    """Ask the backend about every deposit still watched (pending, or credited but not yet
    final) and apply the answer. Returns how many were checked."""
    network = Network.objects.select_related("asset").get(pk=network_id)
    backend = backend_for(network)
    watched = Deposit.objects.filter(
        Q(status=S.PENDING) | Q(status=S.CREDITED, final_at__isnull=True, reorged_at__isnull=True),
        network=network,
    ).values_list("pk", "txid")
    count = 0
    for deposit_id, txid in watched:
        status = backend.tx_status(network=network, txid=txid)
        deposit_update(
            deposit_id=deposit_id, found=status.found, confirmations=status.confirmations
        )
        count += 1
    return count


@transaction.atomic(durable=True)
def deposit_observe(
    *,
    network_id: int,
    txid: str,
    vout: int,
    address: str,
    tag: str,
    amount: Decimal,
    confirmations: int,
    found: bool,
    source: str = Deposit.Source.WATCHER,
) -> Deposit:
    """Record a transfer to one of our addresses (first sight or an update) and apply it:
    credit at enough confirmations, drop or flag when gone. Locks the deposit row (and the
    balances when it credits). Commits."""
    network = Network.objects.select_related("asset").get(pk=network_id)
    owner = DepositAddress.objects.filter(network=network, address=address, tag=tag).first()
    if owner is None:
        raise errors.address_invalid(address, network.code)
    if amount <= 0:
        raise errors.WalletError("deposit amount must be positive", code=-1100)
    deposit, _ = Deposit.objects.get_or_create(
        chain=network.code,
        txid=txid,
        vout=vout,
        defaults={
            "user_id": owner.user_id, "network": network, "asset_id": network.asset_id,
            "address": owner, "amount": amount, "confirmations": confirmations,
            "source": source, "status": S.DROPPED if not found else S.PENDING,
        },
    )  # fmt: skip
    deposit = Deposit.objects.select_for_update().get(pk=deposit.pk)
    if deposit.amount != amount or deposit.address_id != owner.pk:
        log.error("deposit.report_mismatch", deposit_id=deposit.pk, reported=str(amount))
    _apply(deposit, network, found=found, confirmations=confirmations)
    return deposit


@transaction.atomic(durable=True)
def deposit_update(*, deposit_id: int, found: bool, confirmations: int) -> Deposit:
    """Apply what the chain says about a deposit now. Locks the row; commits."""
    deposit = Deposit.objects.select_for_update().get(pk=deposit_id)
    network = Network.objects.select_related("asset").get(pk=deposit.network_id)
    _apply(deposit, network, found=found, confirmations=confirmations)
    return deposit


def _apply(deposit: Deposit, network: Network, *, found: bool, confirmations: int) -> None:
    now = timezone.now()
    if deposit.status == S.DROPPED:
        if not found:
            deposit.dropped_at = deposit.dropped_at or now
            deposit.save()
            return
        deposit.status, deposit.dropped_at = S.PENDING, None  # back on the chain
    if deposit.status == S.PENDING:
        if not found:
            deposit.status, deposit.dropped_at = S.DROPPED, now
            log.warning("deposit.dropped", deposit_id=deposit.pk, txid=deposit.txid)
        else:
            deposit.confirmations = confirmations
            if confirmations >= network.min_confirmations:
                deposit_credit(
                    ledger_key=deposit.ledger_key,
                    user_id=deposit.user_id,
                    asset_id=deposit.asset_id,
                    amount=deposit.amount,
                )
                deposit.status, deposit.credited_at = S.CREDITED, now
    elif deposit.status == S.CREDITED:
        if not found:
            if deposit.reorged_at is None:
                deposit.reorged_at = now
                log.error("deposit.reorged_after_credit", deposit_id=deposit.pk, txid=deposit.txid)
        else:
            deposit.confirmations = max(deposit.confirmations, confirmations)
            final = network.min_confirmations + settings.WALLET_REORG_WATCH_BLOCKS
            if confirmations >= final and deposit.reorged_at is None:
                deposit.final_at = now
    deposit.save()


@transaction.atomic(durable=True)
def deposit_resolve(*, deposit_id: int, actor_id: int, reverse: bool, note: str) -> Deposit:
    """An operator settles a deposit flagged after a reorg: `reverse` takes the credit back
    (refused with the insufficient-balance error when the user no longer has it), otherwise
    the credit stands (the exchange bears it). Audited. Locks the row; commits."""
    from accounts.models import User

    if not User.objects.get(pk=actor_id).has_perm("wallet.resolve_deposit"):
        raise errors.not_allowed("You lack the permission wallet.resolve_deposit.")
    if not note.strip():
        raise errors.not_allowed("A reason is required.")
    deposit = Deposit.objects.select_for_update().get(pk=deposit_id)
    if not deposit.flagged:
        raise errors.not_allowed("This deposit is not flagged.")
    if reverse:
        from exchange_site.errors import InsufficientFunds

        try:
            deposit_reverse(
                ledger_key=deposit.ledger_key,
                user_id=deposit.user_id,
                asset_id=deposit.asset_id,
                amount=deposit.amount,
            )
        except InsufficientFunds:
            raise errors.insufficient_balance() from None
    deposit.resolved_at = timezone.now()
    deposit.resolution = f"{'reversed' if reverse else 'accepted'}: {note}"[:255]
    deposit.save(update_fields=["resolved_at", "resolution"])
    operator_action_record(
        actor_id=actor_id,
        action="deposit.reverse" if reverse else "deposit.accept",
        target=deposit,
        before="flagged",
        after=deposit.resolution,
        note=note,
    )
    return deposit
