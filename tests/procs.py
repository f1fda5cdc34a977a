"""Start the real stack processes (matcher, Celery worker and beat, daphne) for tests: the
command lines of bench.harness.procs with the test database's environment."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.harness.procs import Proc, beat_argv, matcher_argv, web_argv, worker_argv


def stack_env(**extra: str) -> dict[str, str]:
    """Environment for a child process: the test database and the test Redis database."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def matcher_proc(symbols: list[str], log_dir: Path, *options: str, **env: str) -> Proc:
    """`options` go after the defaults (the last of a repeated option wins)."""
    argv = matcher_argv(symbols, "--lease-ttl-ms", "1000", "--block-ms", "10", *options)
    return Proc("matcher", argv, stack_env(**env), log_dir)


def worker_proc(log_dir: Path, name: str = "worker", **env: str) -> Proc:
    return Proc(name, worker_argv(name), stack_env(**env), log_dir)


def beat_proc(log_dir: Path, **env: str) -> Proc:
    return Proc("beat", beat_argv(log_dir), stack_env(**env), log_dir)


def web_proc(port: int, log_dir: Path, **env: str) -> Proc:
    return Proc("web", web_argv(port), stack_env(**env), log_dir)


def stop_all(procs: Sequence[Proc]) -> None:
    """Stop the processes together rather than one after the other (a Celery worker's warm
    shutdown alone takes a second or two)."""
    with ThreadPoolExecutor(max_workers=max(1, len(procs))) as pool:
        for future in [pool.submit(proc.stop) for proc in procs]:
            future.result()
