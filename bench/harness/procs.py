"""Real processes of the stack (daphne, matcher, Celery worker and beat), for the benchmarks and
for the tests that run the stack (tests/procs.py gives them the test database's environment).

Each child runs in its own process group with its output in a log file; `Proc.output()` is
what to show when something does not come up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: manage.py, Procfile
VENV_BIN = Path(sys.executable).parent


class Proc:
    """One child process with its output in a log file (read it when a test fails)."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name, self.argv, self.env = name, argv, dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (Celery forks children)."""
        if self.popen and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=30)

    def stop(self, *, warm: bool = False) -> None:
        """SIGTERM, then SIGKILL to the group after 15 s. `warm`: SIGTERM to the leader only,
        so that a Celery worker stops its pool itself (warm shutdown: running tasks finish)."""
        if self.popen and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if warm:
                    os.kill(self.popen.pid, signal.SIGTERM)
                else:
                    os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


# --------------------------------------------------------------------------- command lines


# Server pings every 20 s of client silence, a close after 60 s without a pong (Binance's
# rule); incoming WebSocket messages above 64 KiB are refused (close 1009). The Procfile too.
DAPHNE_WS_OPTIONS = (
    "--ping-interval", "20", "--ping-timeout", "60",
    "--websocket-max-message-size", "65536", "--websocket-max-frame-size", "65536",
)  # fmt: skip


def web_argv(port: int, server: str = "daphne") -> list[str]:
    """The app the Procfile serves, by daphne (the Procfile's server) or, to measure the HTTP
    server's share side by side, by uvicorn with httptools (requirements-dev.txt)."""
    app = "exchange_site.asgi:application"
    if server == "uvicorn":
        return [
            str(VENV_BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port),
            "--http", "httptools", "--no-access-log", "--lifespan", "off", app,
        ]  # fmt: skip
    # -v 0: no plain-text access log (the app logs its requests as JSON).
    return [
        str(VENV_BIN / "daphne"), "-v", "0", "-b", "127.0.0.1", "-p", str(port),
        *DAPHNE_WS_OPTIONS, app,
    ]  # fmt: skip


def matcher_argv(symbols: Sequence[str], *options: str) -> list[str]:
    return [
        str(VENV_BIN / "python"), "manage.py", "run_matcher", "--markets", *symbols,
        "--metrics-port", "0", *options,
    ]  # fmt: skip


def worker_argv(hostname: str, concurrency: int = 2) -> list[str]:
    """A prefork Celery worker; `hostname` (its node name) is made unique with our pid."""
    return [
        str(VENV_BIN / "celery"), "--quiet", "-A", "exchange_site", "worker",
        "--loglevel", "WARNING", "--concurrency", str(concurrency), "--pool", "prefork",
        "--hostname", f"{hostname}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def beat_argv(log_dir: Path) -> list[str]:
    return [
        str(VENV_BIN / "celery"), "--quiet", "-A", "exchange_site", "beat", "--loglevel", "WARNING",
        "--schedule", str(log_dir / "beat-schedule"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- readiness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str) -> bool:
    """GET `url` answers 200 (False while nothing listens)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


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


def wait_web(ports: Sequence[int], procs: Sequence[Proc], timeout: float = 60) -> None:
    """Every web port answers /api/v3/ping; fail at once, with the logs, if a process dies."""
    pending = list(ports)

    def ready() -> bool:
        while pending and http_ok(f"http://127.0.0.1:{pending[0]}/api/v3/ping"):
            pending.pop(0)
        return not pending or not all(p.alive() for p in procs)

    wait_for(ready, timeout, f"web ports {list(ports)}", procs)
    _fail_if_dead(procs)


def wait_celery(proc: Proc, timeout: float = 60) -> None:
    """The worker answers a broker ping (it consumes tasks from then on)."""
    from exchange_site.celery_app import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _fail_if_dead([proc])
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError(f"celery worker did not answer a ping\n{proc.output()}")


def _fail_if_dead(procs: Sequence[Proc]) -> None:
    dead = [p for p in procs if not p.alive()]
    if dead:
        logs = "\n".join(f"--- {p.name} ---\n{p.output()}" for p in procs)
        raise RuntimeError(f"{[p.name for p in dead]} exited during start-up\n{logs}")
