"""Start the real stack processes (matcher, Celery worker and beat, daphne) for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


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


class Proc:
    """One child process with its output in a log file (read it when a test fails)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (Celery forks children)."""
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def matcher_proc(symbols: list[str], log_dir: Path, **env: str) -> Proc:
    argv = [
        str(VENV_BIN / "python"), "manage.py", "run_matcher", "--markets", *symbols,
        "--metrics-port", "0", "--lease-ttl-ms", "1000", "--block-ms", "10",
    ]  # fmt: skip
    return Proc("matcher", argv, stack_env(**env), log_dir)


def worker_proc(log_dir: Path, name: str = "worker", **env: str) -> Proc:
    argv = [
        str(VENV_BIN / "celery"), "-A", "exchange_site", "worker", "--loglevel", "WARNING",
        "--concurrency", "2", "--pool", "prefork", "--hostname", f"{name}-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    return Proc(name, argv, stack_env(**env), log_dir)


def beat_proc(log_dir: Path, **env: str) -> Proc:
    argv = [
        str(VENV_BIN / "celery"), "-A", "exchange_site", "beat", "--loglevel", "WARNING",
        "--schedule", str(log_dir / "beat-schedule"),
    ]  # fmt: skip
    return Proc("beat", argv, stack_env(**env), log_dir)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def web_proc(port: int, log_dir: Path, **env: str) -> Proc:
    argv = [
        str(VENV_BIN / "daphne"),
        "-b",
        "127.0.0.1",
        "-p",
        str(port),
        "exchange_site.asgi:application",
    ]
    return Proc("web", argv, stack_env(**env), log_dir)


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, procs: Sequence[Proc] = ()
) -> None:
    """Poll until predicate() holds; fail with the processes' output otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    logs = "\n".join(f"--- {p.name} ---\n{p.output()}" for p in procs)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
