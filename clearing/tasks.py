from __future__ import annotations

from typing import Any

import redis
import structlog
from django.conf import settings
from django.db import OperationalError

from exchange_site.celery_typing import shared_task
from exchange_site.redis import get_redis

from .invariants import ledger_check_invariants
from .metrics import RECONCILE_PROBLEMS
from .models import ReconcileRun
from .settlement import UNSETTLED_AGE, market_ids_all, market_settle_run, unsettled_markets

log = structlog.get_logger(__name__)


def _queued_key(market_id: int) -> str:
    return f"settle:queued:{market_id}"


def settle_market_enqueue(market_id: int, client: redis.Redis | None = None) -> None:
    """Enqueue settlement for a market unless a run is already queued (called after commit)."""
    if (client or get_redis()).set(_queued_key(market_id), 1, nx=True, ex=30):
        settle_market.delay(market_id)


@shared_task(
    bind=True,
    name="clearing.settle_market",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=20,
)
def settle_market(self: Any, market_id: int) -> int:
    """Settle the market's unsettled trades and releasable holds, for at most SETTLE_BUDGET_S,
    then hand the rest to a fresh task so other markets' tasks take turns. Never waits for
    another settler of the market: re-enqueued shortly instead. Idempotent: a redelivered or
    repeated run finds the work done (trades carry settled_at, ledger keys are unique)."""
    # Clear the queued mark before reading, so a trade committed after this point enqueues
    # a fresh run.
    client = get_redis()
    client.delete(_queued_key(market_id))
    try:
        total, why = market_settle_run(
            market_id=market_id, wait=False, budget_s=settings.SETTLE_BUDGET_S
        )
    except OperationalError as exc:  # deadlock victim, serialization failure, connection loss
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 0.1, 5)) from exc
    if why != "done" and client.set(_queued_key(market_id), 1, nx=True, ex=30):
        # Busy: the other settler may have checked for work just before our trades landed.
        self.apply_async((market_id,), countdown=0.05 if why == "busy" else 0)
    return total


@shared_task(name="clearing.settle_sweep", ignore_result=True)
def settle_sweep() -> int:
    """Re-run settlement where work waited too long (a lost or killed run); export its age and
    alert on it."""
    ages = unsettled_markets(older_than_s=settings.SETTLE_SWEEP_AGE_S)
    # Every market: one that caught up reads 0 instead of keeping its last lag.
    for market_id in market_ids_all():
        UNSETTLED_AGE.labels(str(market_id)).set(ages.get(market_id, 0.0))
    for market_id, age in ages.items():
        if age > settings.SETTLEMENT_LAG_ALERT_S:
            log.warning("settlement.lag", market_id=market_id, oldest_unsettled_s=round(age, 3))
        settle_market.delay(market_id)
    return len(ages)


@shared_task(name="clearing.reconcile", ignore_result=True)
def reconcile() -> int:
    """Check every money invariant; log each broken one and export the count as a metric."""
    problems = ledger_check_invariants()
    ReconcileRun.objects.create(problems=len(problems), details=problems[:50])
    RECONCILE_PROBLEMS.set(len(problems))
    for problem in problems:
        log.error("reconcile.broken_invariant", problem=problem)
    if not problems:
        log.info("reconcile.ok")
    return len(problems)
