"""Celery tasks of the wallet: withdrawal processing, its sweep, and the chain watcher."""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.db import OperationalError

from exchange_site.celery_typing import shared_task

from .chain import ChainRetryableError
from .models import Network
from .services.deposits import deposits_refresh, deposits_scan
from .services.withdrawals import (
    retry_delay_s,
    withdrawal_send,
    withdrawals_refresh,
    withdrawals_to_redrive,
)

log = structlog.get_logger(__name__)


@shared_task(
    bind=True,
    name="wallet.withdrawal_process",
    # Late acks only because the task is idempotent: states are committed before each side
    # effect and the send carries the withdrawal's idempotency key (services.withdrawals).
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,  # bounded by WALLET_SEND_MAX_ATTEMPTS (then `stuck`) and by DB recovery
)
def withdrawal_process(self: Any, withdrawal_id: int) -> str:
    """Send an approved withdrawal (APPROVED -> PROCESSING -> SENT). Retries on a retryable
    backend error (backoff up to a minute) and on database errors."""
    try:
        return withdrawal_send(withdrawal_id=withdrawal_id)
    except ChainRetryableError as exc:
        countdown = retry_delay_s(self.request.retries + 1)
        log.warning("withdrawal.retry", withdrawal_id=withdrawal_id, error=str(exc))
        raise self.retry(exc=exc, countdown=countdown) from exc
    except OperationalError as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 0.2, 10)) from exc


@shared_task(name="wallet.withdrawals_sweep", ignore_result=True)
def withdrawals_sweep() -> int:
    """Re-drive approved/processing withdrawals whose task was lost or whose worker died."""
    ids = withdrawals_to_redrive(older_than_s=settings.WALLET_SWEEP_AGE_S)
    for withdrawal_id in ids:
        withdrawal_process.delay(withdrawal_id)
    return len(ids)


@shared_task(name="wallet.chain_watch", ignore_result=True)
def chain_watch() -> int:
    """For every network: record new deposits, credit/drop/flag watched ones, confirm sent
    withdrawals. Each step is idempotent; a failing network is logged and the others go on."""
    done = 0
    for network_id in Network.objects.values_list("pk", flat=True):
        try:
            deposits_scan(network_id=network_id)
            done += deposits_refresh(network_id=network_id)
            done += withdrawals_refresh(network_id=network_id)
        except ChainRetryableError as exc:
            log.warning("chain_watch.backend_unavailable", network_id=network_id, error=str(exc))
    return done
