"""Celery: Redis broker, no result backend (money tasks ignore results), explicit beat schedule."""

from __future__ import annotations

from .env import env

_REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = env("CELERY_BROKER_URL", _REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Late acks need a visibility timeout longer than any task; ours take seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "reconcile": {
        "task": "clearing.reconcile",
        "schedule": env("RECONCILE_EVERY_S", 300.0, cast=float),
    },
    "settle-sweep": {"task": "clearing.settle_sweep", "schedule": 2.0},
    "stream-sweep": {"task": "orders.stream_sweep", "schedule": 5.0},
    "breaker-release": {"task": "orders.breaker_release", "schedule": 2.0},
    "flags-scan": {"task": "admin_rbac.flags_scan", "schedule": 60.0},
    # Candles behind their trades (a lost enqueue): the roll-up is idempotent.
    "candles-sweep": {"task": "marketdata.roll_candles_sweep", "schedule": 5.0},
    # The worker's heartbeat in Redis (exchange_site/health.py), shown by /readyz.
    "ops-heartbeat": {
        "task": "ops.heartbeat",
        "schedule": env("OPS_HEARTBEAT_EVERY_S", 5.0, cast=float),
    },
}
# Task modules outside the apps (autodiscovery covers the apps' tasks.py).
CELERY_IMPORTS = ["exchange_site.health"]
# Celery's own log lines go through Django's LOGGING (exchange_site/celery_app.py).
# Work older than this is re-driven by the sweeps (seconds).
SETTLE_SWEEP_AGE_S = env("SETTLE_SWEEP_AGE_S", 2.0, cast=float)
SETTLEMENT_LAG_ALERT_S = env("SETTLEMENT_LAG_ALERT_S", 5.0, cast=float)
# One settle_market task works a market at most this long, then re-enqueues the rest, so a
# backlog in one market never keeps the worker from the others (seconds).
SETTLE_BUDGET_S = env("SETTLE_BUDGET_S", 2.0, cast=float)
STREAM_SWEEP_AGE_S = env("STREAM_SWEEP_AGE_S", 10.0, cast=float)
STREAM_SWEEP_LIMIT = env("STREAM_SWEEP_LIMIT", 5000, cast=int)
# A command re-sent by the sweep is re-sent again (same stream epoch) only after this back-off,
# doubling up to the cap (seconds); a new epoch (Redis lost the stream) re-sends at once.
STREAM_SWEEP_BACKOFF_S = env("STREAM_SWEEP_BACKOFF_S", 30.0, cast=float)
STREAM_SWEEP_BACKOFF_MAX_S = env("STREAM_SWEEP_BACKOFF_MAX_S", 600.0, cast=float)

# Wallet (wallet/tasks.py): deposits and confirmations, and re-driving withdrawals whose task
# was lost.
CELERY_BEAT_SCHEDULE |= {
    "wallet-chain-watch": {
        "task": "wallet.chain_watch",
        "schedule": env("WALLET_WATCH_EVERY_S", 3.0, cast=float),
    },
    "wallet-withdrawals-sweep": {
        "task": "wallet.withdrawals_sweep",
        "schedule": env("WALLET_SWEEP_EVERY_S", 5.0, cast=float),
    },
}
