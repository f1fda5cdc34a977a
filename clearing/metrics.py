from __future__ import annotations

from prometheus_client import Gauge

RECONCILE_PROBLEMS = Gauge(
    "exchange_reconcile_problems",
    "Broken money invariants at the last reconcile",
    multiprocess_mode="mostrecent",  # the worker's task processes: the last run counts
)
