"""Structured logs: one JSON object per line on stderr (structlog over stdlib logging)."""

from __future__ import annotations

import logging

import structlog
from structlog.typing import Processor

from .env import env

LOG_LEVEL = env("LOG_LEVEL", "INFO")
# Python warnings (e.g. Celery's "running as root") become JSON log lines (logger py.warnings).
logging.captureWarnings(True)

_shared: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processor": structlog.processors.JSONRenderer(),
            "foreign_pre_chain": _shared,
        },
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # One line per task received and finished: too many for INFO (the task's own lines
        # carry task_id and task_name).
        "celery.worker.strategy": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        "celery.beat": {"level": "WARNING"},  # "Sending due task" every few seconds
    },
}

structlog.configure(
    processors=[
        *_shared,
        structlog.processors.format_exc_info,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)
