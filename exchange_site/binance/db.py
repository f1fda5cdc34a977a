"""Running blocking work (ORM queries, services, sync Redis) from the async API views.

A dedicated, bounded thread pool instead of asgiref's default: each thread keeps one persistent
PostgreSQL connection, so the pool size bounds the connections of a web process
(settings.API_DB_THREADS). Django's thread_sensitive mode would run all of it on one shared
thread and serialise the requests.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor  # one pool per process, created on first use
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=settings.API_DB_THREADS, thread_name_prefix="api-db"
                )
    return _executor


def _with_connection_hygiene(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        # These threads never see Django's request_started/finished signals, which is where
        # a broken or expired (CONN_MAX_AGE) connection is normally dropped; do it here.
        close_old_connections()
        return fn(*args, **kwargs)

    return run


async def db_call(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the blocking `fn(*args, **kwargs)` on the API thread pool and await its result."""
    runner = sync_to_async(
        _with_connection_hygiene(fn), thread_sensitive=False, executor=_get_executor()
    )
    return await runner(*args, **kwargs)
