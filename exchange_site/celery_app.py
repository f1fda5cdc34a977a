"""The Celery application (`celery -A exchange_site worker|beat`)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings.base")

app = Celery("exchange_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from exchange_site.logctx import celery_signals_connect  # noqa: E402

celery_signals_connect()  # request ids into tasks; task_id/task_name on every task log line


def _logging_from_django(**_: Any) -> None:
    """Celery's own lines go through Django's LOGGING (JSON, LOG_LEVEL) like every other line:
    a receiver of setup_logging keeps Celery from installing its plain-text handlers."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


setup_logging.connect(_logging_from_django, weak=False)

# The worker's metrics (settlement lag, reconcile): each prefork task process writes its own file
# in PROMETHEUS_MULTIPROC_DIR (set for the worker only: Procfile, compose), and the worker's
# main process serves them merged on METRICS_HOST:WORKER_METRICS_PORT. The directory must exist
# before prometheus_client creates a metric in this process.
_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if _MULTIPROC_DIR:
    os.makedirs(_MULTIPROC_DIR, exist_ok=True)


def _worker_metrics_serve(**_: Any) -> None:
    port = int(os.environ.get("WORKER_METRICS_PORT") or 0)
    if not _MULTIPROC_DIR:
        return
    import structlog
    from django.conf import settings

    from exchange_site.metrics import multiprocess_dir_reset, serve_multiprocess

    multiprocess_dir_reset(_MULTIPROC_DIR)  # a restarted worker starts from zero
    if not port:
        return
    try:
        serve_multiprocess(_MULTIPROC_DIR, host=settings.METRICS_HOST, port=port)
    except OSError as exc:  # e.g. the port is taken: run without the endpoint, say so
        structlog.get_logger(__name__).warning(
            "worker.metrics_port_busy", host=settings.METRICS_HOST, port=port, error=str(exc)
        )


worker_init.connect(_worker_metrics_serve)
