from __future__ import annotations

import structlog
from celery import shared_task

from .invariants import ledger_check_invariants
from .metrics import RECONCILE_PROBLEMS

log = structlog.get_logger(__name__)


@shared_task(name="clearing.reconcile", ignore_result=True)
def reconcile() -> int:
    """Check every money invariant; log each broken one and export the count as a metric."""
    problems = ledger_check_invariants()
    RECONCILE_PROBLEMS.set(len(problems))
    for problem in problems:
        log.error("reconcile.broken_invariant", problem=problem)
    if not problems:
        log.info("reconcile.ok")
    return len(problems)
