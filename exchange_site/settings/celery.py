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
    "reconcile": {"task": "clearing.reconcile", "schedule": 300.0},
}
