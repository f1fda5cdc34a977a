"""REST order-placement benchmark: ``python -m orders.bench_api [--rate N] [--seconds S]
[--traders N] [--web-procs N] [--concurrency K] [--resp-types ACK,FULL] [--profile]``.

End to end through the real stack, as a Binance client sees it: signed ``POST /api/v3/order``
(form body, HMAC-SHA256 over the raw body, header X-MBX-APIKEY, timestamp + recvWindow) to
daphne processes serving ``exchange_site.asgi:application``, with the real matcher
(``manage.py run_matcher``) and a Celery worker (settlement) running as subprocesses.
DESIGN.md targets: >= 1,000 orders/s; p99 < 25 ms at 300 orders/s. Results: orders/BENCH_API.md.

Isolation: its own database and Redis db (default ``postgres://postgres@127.0.0.1:5432/
exchange_bench_api`` and ``redis://127.0.0.1:6379/13``; the database name must contain "bench").
Every run creates the database if missing, migrates, truncates every application table and
flushes its Redis db, then sets up market BTCUSDT (tick 0.01, step 0.00001, min notional 5) and
--traders funded traders (orders.services.market_create, accounts.services.user_create /
api_key_issue, clearing.services.balance_credit_external), each with one API key (read, trade)
on the ``unlimited`` rate-limit tier (ApiKey.tier: counted in Redis, never refused).
MAX_OPEN_ORDERS_PER_MARKET is raised for the processes so that the per-user open-order filter
cannot refuse bench orders (the mix below keeps the book small anyway). Before the stack starts,
orders.services.order_place is timed in-process (statements, Redis round trips, wall and CPU
per call: the floor of the service behind the endpoint).

Load (one asyncio process, aiohttp, a keep-alive connection pool per web port; with
--web-procs > 1 the requests go round-robin over the ports, there is no proxy): LIMIT orders,
trader i % N for request i, side at random; half of them resting (GTC, 1-200 ticks away from
50,000.00), half crossing (IOC at 50,005.00 / 49,995.00, taking the best resting order of the
other side, expiring otherwise). Quantity 0.001 (notional ~50 USDT).

Phases, per response type (--resp-types, default ACK then FULL), each after a --warmup at the
same load (not measured; ends with ANALYZE of the hot tables, as autovacuum would do -- this
server runs with autovacuum off):
  rate        open loop, per --rate: request k is due at t0 + k/rate whatever the answers do;
              latency = answer time minus the DUE time (queueing in the client counts); at most
              --connections requests in flight per port, the request is signed when it leaves.
              Accepted orders/s = HTTP 200 answers / (last answer - t0): the rate when the stack
              keeps up, its capacity when it does not; requests unanswered 10 s after the last
              due time are cancelled and reported as errors.
  saturation  closed loop: --concurrency workers, each sends its next request when the
              previous one answered; latency from the actual send; answers after the window
              are not counted.
--profile adds a saturation phase (first response type) with two py-spy recorders on web
process 1 (--gil: where its CPU goes; all threads: where requests wait); its figures are not the
benchmark's. Raw stacks and summaries are kept in the log directory.

Per phase it prints offered rate, accepted orders/s, errors by code, p50/p90/p99/max latency,
the CPU used by each part (web, matcher, worker, the bench database's PostgreSQL backends,
Redis, this client, other processes: client and server share this 2-core machine) in cores and
ms per accepted order, and the mean number of PostgreSQL backends per wait state (running,
waiting for a row lock, idle in transaction = waiting for their client).

The last line printed is ``orders/s: N`` (saturation, the first response type).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/exchange_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SYMBOL = "BTCUSDT"
TICK = Decimal("0.01")
STEP = Decimal("0.00001")
MID_TICKS = 5_000_000  # 50,000.00
QTY = "0.00100"
CROSS_TICKS = 500  # crossing orders are priced 5.00 through the mid
RECV_WINDOW = "10000"
ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# Kept across the truncate (created by migrate, referenced by content-type machinery).
KEEP_TABLES = {"django_migrations", "django_content_type", "auth_permission"}
HOT_TABLES = (
    "orders_order", "clearing_hold", "clearing_ledgeraccount", "clearing_ledgertransaction",
    "clearing_posting", "orders_trade",
)  # fmt: skip
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- arguments, env


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m orders.bench_api",
        description="REST order-placement benchmark (signed POST /api/v3/order) against the"
        " real stack; see the module docstring and orders/BENCH_API.md.",
    )
    p.add_argument(
        "--rate", default="300",
        help="offered orders/s of the open-loop phase; a comma list runs one phase per rate",
    )  # fmt: skip
    p.add_argument("--seconds", type=float, default=20.0, help="length of each measured phase")
    p.add_argument("--warmup", type=float, default=4.0, help="unmeasured load before each phase")
    p.add_argument("--traders", type=int, default=20, help="funded traders, one API key each")
    p.add_argument("--web-procs", type=int, default=1, help="daphne processes (one port each)")
    p.add_argument(
        "--concurrency", type=int, default=0,
        help="closed-loop workers at saturation (default 24 per web process)",
    )  # fmt: skip
    p.add_argument(
        "--connections", type=int, default=128,
        help="open loop: keep-alive connections per web port at most",
    )  # fmt: skip
    p.add_argument("--resp-types", default="ACK,FULL", help="newOrderRespType values to run")
    p.add_argument(
        "--modes", default="rate,saturation", help="comma list of phases: rate, saturation"
    )
    p.add_argument(
        "--api-db-threads", type=int, default=0, help="API_DB_THREADS for web (0: default)"
    )
    p.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker concurrency")
    p.add_argument("--beat", action="store_true", help="also run celery beat")
    p.add_argument(
        "--profile", action="store_true",
        help="extra saturation phase with py-spy recording web process 1 (--py-spy)",
    )  # fmt: skip
    p.add_argument("--profile-seconds", type=float, default=15.0, help="py-spy duration")
    p.add_argument(
        "--py-spy", default=shutil.which("py-spy") or "/tmp/pyspy-venv/bin/py-spy",
        help="py-spy binary (pip install py-spy into any venv)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument("--log-dir", help="process logs (default: a new temporary directory)")
    return p.parse_args(argv)


def _configure_env(args: argparse.Namespace) -> None:
    """Point Django (here and in every child process) at the bench database and Redis db."""
    import dj_database_url

    name = dj_database_url.parse(args.database_url).get("NAME") or ""
    if "bench" not in name:
        sys.exit(f"refusing to use database {name!r}: its name must contain 'bench'")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["CELERY_BROKER_URL"] = args.redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "exchange_site.settings.base"
    os.environ["DEBUG"] = "false"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["PYTHONUNBUFFERED"] = "1"
    # The per-user open-order filter (MAX_NUM_ORDERS) must not refuse bench orders.
    os.environ["MAX_OPEN_ORDERS_PER_MARKET"] = "1000000"
    if args.api_db_threads:
        os.environ["API_DB_THREADS"] = str(args.api_db_threads)


def _create_database(url: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    with psycopg.connect(
        host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"] or "postgres",
        password=cfg.get("PASSWORD") or None, dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
            print(f"created database {cfg['NAME']}")


def _reset() -> None:
    from django.core.management import call_command
    from django.db import connection

    from exchange_site.redis import get_redis

    call_command("migrate", verbosity=0, interactive=False)
    tables = [t for t in connection.introspection.table_names() if t not in KEEP_TABLES]
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    get_redis().flushdb()


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for table in HOT_TABLES:
            cur.execute(f"ANALYZE {table}")


# --------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class Trader:
    name: str
    user_id: int
    api_key: str
    secret: bytes


def _setup(n_traders: int) -> tuple[Any, list[Trader]]:
    from accounts.models import ApiKey
    from accounts.services import api_key_issue, user_create
    from clearing.services import balance_credit_external
    from orders.services import market_create

    market = market_create(
        base="BTC", quote="USDT", tick_size=TICK, step_size=STEP, min_notional=Decimal("5"),
    )  # fmt: skip
    traders = []
    for i in range(n_traders):
        name = f"bench-api-{i:02d}"
        user = user_create(username=name, password=None)
        balance_credit_external(
            user_id=user.id, asset_id=market.quote_id, amount=Decimal(50_000_000), ref=f"{name}-q"
        )
        balance_credit_external(
            user_id=user.id, asset_id=market.base_id, amount=Decimal(1_000), ref=f"{name}-b"
        )
        key, secret = api_key_issue(user=user, permissions=["read", "trade"], label="bench")
        traders.append(Trader(name, user.id, key.key, secret.encode()))
    ApiKey.objects.filter(label="bench").update(tier=ApiKey.Tier.UNLIMITED)
    return market, traders


@dataclass
class Probe:
    sql: list[str]  # the statements of one order_place in steady state
    redis_round_trips: int
    n: int  # sequential calls timed
    wall_ms: float  # per call
    cpu_ms: float  # per call (thread CPU time)


def _probe_order_place(trader: Trader, n: int = 200) -> Probe:
    """order_place, the service behind POST /api/v3/order, in this process before the stack
    starts: the SQL statements and synchronous Redis round trips of one call (the second: the
    first also creates the user's LOCKED account), then `n` sequential calls timed. Crossing
    IOC buys into an empty book: the matcher expires them when it starts."""
    import redis as redis_lib
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders.services import order_place

    def place() -> None:
        order_place(
            user_id=trader.user_id, symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="IOC",
            quantity=Decimal(QTY), price=TICK * (MID_TICKS + CROSS_TICKS),
        )  # fmt: skip

    place()
    calls = {"n": 0}
    orig_cmd, orig_exec = redis_lib.Redis.execute_command, redis_lib.client.Pipeline.execute

    def count_cmd(self: Any, *a: Any, **kw: Any) -> Any:
        if not isinstance(self, redis_lib.client.Pipeline):
            calls["n"] += 1
        return orig_cmd(self, *a, **kw)  # type: ignore[no-untyped-call]

    def count_exec(self: Any, *a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return orig_exec(self, *a, **kw)

    redis_lib.Redis.execute_command = count_cmd  # type: ignore[method-assign]
    redis_lib.client.Pipeline.execute = count_exec  # type: ignore[method-assign]
    try:
        with CaptureQueriesContext(connection) as ctx:
            place()
    finally:
        redis_lib.Redis.execute_command = orig_cmd  # type: ignore[method-assign]
        redis_lib.client.Pipeline.execute = orig_exec  # type: ignore[method-assign]
    for _ in range(10):
        place()
    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        place()
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    return Probe(
        [q["sql"] for q in ctx.captured_queries], calls["n"], n, wall / n * 1000, cpu / n * 1000
    )


# --------------------------------------------------------------------------- processes


class Proc:
    """One child process in its own process group, output to a log file."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name, self.argv = name, argv
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=15)

    def tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_stack(args: argparse.Namespace, log_dir: Path) -> tuple[list[Proc], list[int]]:
    py = str(VENV_BIN / "python")
    app = "exchange_site.asgi:application"  # what the Procfile serves
    ports = [_free_port() for _ in range(args.web_procs)]
    procs = [
        Proc(
            f"web{i + 1}",
            [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app],
            log_dir,
        )
        for i, port in enumerate(ports)
    ]
    procs.append(
        Proc(
            "matcher",
            [py, "manage.py", "run_matcher", "--markets", SYMBOL, "--metrics-port", "0"],
            log_dir,
        )
    )
    celery = str(VENV_BIN / "celery")
    worker = [
        celery, "-A", "exchange_site", "worker", "--loglevel", "WARNING",
        "--concurrency", str(args.worker_concurrency), "--pool", "prefork",
        "--hostname", f"bench-api-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    procs.append(Proc("worker", worker, log_dir))
    if args.beat:
        beat = [
            celery, "-A", "exchange_site", "beat", "--loglevel", "WARNING",
            "--schedule", str(log_dir / "beat-schedule"),
        ]  # fmt: skip
        procs.append(Proc("beat", beat, log_dir))
    for proc in procs:
        proc.start()
    deadline = time.monotonic() + 60
    for port in ports:
        while not _ping(port):
            dead = [p for p in procs if not p.alive()]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in procs)
                raise RuntimeError(f"the stack did not come up\n{logs}")
            time.sleep(0.1)
    return procs, ports


def _ping(port: int) -> bool:
    try:
        url = f"http://127.0.0.1:{port}/api/v3/ping"
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


# --------------------------------------------------------------------------- CPU accounting


def _proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _server_cpu_s(root: int, tree: dict[int, list[int]]) -> float:
    """CPU of a forking server: itself, its reaped children (cutime, cstime) and the live ones."""
    try:
        with open(f"/proc/{root}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime
    return own + sum(_proc_cpu_s(pid) for pid in tree.get(root, ()))


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree[ppid].append(int(entry))
    return tree


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _tree_pids(root: int, tree: dict[int, list[int]]) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, ()))
    return out


def _system_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


class CpuMeter:
    """CPU seconds used by each part of the stack between start() and stop()."""

    def __init__(self, procs: list[Proc], redis_pid: int | None) -> None:
        self.procs, self.redis_pid = procs, redis_pid

    def _groups(self) -> dict[str, list[int]]:
        from django.db import connection

        tree = _children()
        groups: dict[str, list[int]] = collections.defaultdict(list)
        for proc in self.procs:
            label = "web" if proc.name.startswith("web") else proc.name
            groups[label].extend(_tree_pids(proc.pid, tree))
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            groups["postgres (bench db backends)"] = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT pg_backend_pid()")
            self.postmaster = _ppid(cur.fetchone()[0])
        self.tree = tree
        if self.redis_pid:
            groups["redis-server (shared)"] = [self.redis_pid]
        return groups

    def _sample(self, groups: dict[str, list[int]]) -> dict[int, float]:
        return {pid: _proc_cpu_s(pid) for pids in groups.values() for pid in pids}

    def start(self) -> None:
        self.waits = PgWaitSampler()
        self.waits.start()
        self.g0 = self._groups()
        self.s0 = self._sample(self.g0)
        self.pg0 = _server_cpu_s(self.postmaster, self.tree)
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self.sys0 = _system_busy()
        self.t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        sys1 = _system_busy()
        g1 = self._groups()
        s1 = self._sample(g1)
        self.pg_waits = self.waits.stop()
        for pid, cpu in self.waits.cpu_last.items():  # backends gone by now: last reading
            s1[pid] = max(s1.get(pid, 0.0), cpu)
            g1["postgres (bench db backends)"].append(pid)
        out: dict[str, float] = {}
        # Every backend of the server, also those that exited during the phase and those of
        # other databases (other users of this machine): an upper bound for the line above.
        out["_postgres_server"] = _server_cpu_s(self.postmaster, self.tree) - self.pg0
        for label in g1:
            pids = set(g1[label]) | set(self.g0.get(label, ()))
            # A pid absent at the start started during the phase: counted from zero.
            out[label] = sum(max(0.0, s1.get(p, 0.0) - self.s0.get(p, 0.0)) for p in pids)
        out["client (this process)"] = (
            ru1.ru_utime - self.ru0.ru_utime + ru1.ru_stime - self.ru0.ru_stime
        )
        busy = sys1[0] - self.sys0[0]
        total = sys1[1] - self.sys0[1]
        out["_machine_busy_cores"] = busy / total * (os.cpu_count() or 1) if total else 0.0
        out["_wall"] = wall
        ours = sum(v for k, v in out.items() if not k.startswith("_"))
        out["_others_cores"] = max(0.0, out["_machine_busy_cores"] - ours / wall)
        return out


class PgWaitSampler(threading.Thread):
    """Samples pg_stat_activity of the bench database every 20 ms: how many backends are
    running, waiting for a lock, or idle in a transaction (waiting for their client). Also
    keeps the last CPU reading of every backend it sees (every 100 ms), so that a backend that
    exits during the phase (Django recycles connections after CONN_MAX_AGE) is still counted."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.cpu_last: dict[int, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psycopg

        url = os.environ["DATABASE_URL"]
        with psycopg.connect(url, autocommit=True) as conn:
            while not self._stop_event.wait(0.02):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend' AND state <> 'idle'"
                ).fetchall()
                self.samples += 1
                for state, wtype, wevent in rows:
                    what = "running (CPU)" if wtype is None else f"{wtype}:{wevent}"
                    self.counts[f"{state} / {what}"] += 1
                if self.samples % 5 == 0:
                    pids = conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"
                    ).fetchall()
                    for (pid,) in pids:
                        cpu = _proc_cpu_s(pid)
                        if cpu:
                            self.cpu_last[pid] = cpu

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join(timeout=5)
        n = max(self.samples, 1)
        return {k: v / n for k, v in self.counts.most_common()}


# --------------------------------------------------------------------------- load generation


@dataclass
class PhaseResult:
    name: str
    resp_type: str
    offered: float | None  # orders/s; None = closed loop
    duration: float
    sent: int = 0
    ok: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # of the 200 answers
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    fills: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    pg_waits: dict[str, float] = field(default_factory=dict)  # mean backends per state
    late_start_ms: float = 0.0  # open loop: worst lag of the scheduler behind its schedule
    last_answer: float = 0.0  # loop clock


class Load:
    """Signed order requests over keep-alive aiohttp sessions, one per web port."""

    def __init__(self, ports: list[int], traders: list[Trader], seed: int) -> None:
        self.ports, self.traders = ports, traders
        self.rng = random.Random(seed)
        self.i = 0
        self.sessions: list[Any] = []

    async def open(self, connections_per_port: int) -> None:
        import aiohttp

        await self.close()
        timeout = aiohttp.ClientTimeout(total=30)
        self.sessions = [
            aiohttp.ClientSession(
                base_url=f"http://127.0.0.1:{port}",
                connector=aiohttp.TCPConnector(limit=connections_per_port, keepalive_timeout=60),
                timeout=timeout,
                skip_auto_headers=("User-Agent",),
            )
            for port in self.ports
        ]

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        self.sessions = []

    def next_request(self, resp_type: str) -> tuple[int, Trader, bytes]:
        i = self.i
        self.i += 1
        trader = self.traders[i % len(self.traders)]
        buy = self.rng.random() < 0.5
        if self.rng.random() < 0.5:  # resting: GTC, 1-200 ticks behind the mid
            away = self.rng.randint(1, 200)
            ticks = MID_TICKS - away if buy else MID_TICKS + away
            tif = "GTC"
        else:  # crossing: IOC through the mid, takes the best resting order of the other side
            ticks = MID_TICKS + CROSS_TICKS if buy else MID_TICKS - CROSS_TICKS
            tif = "IOC"
        price = f"{ticks // 100}.{ticks % 100:02d}"
        body = (
            f"symbol={SYMBOL}&side={'BUY' if buy else 'SELL'}&type=LIMIT&timeInForce={tif}"
            f"&quantity={QTY}&price={price}&newOrderRespType={resp_type}"
            f"&timestamp={time.time_ns() // 1_000_000}&recvWindow={RECV_WINDOW}"
        ).encode()
        sig = hmac.new(trader.secret, body, hashlib.sha256).hexdigest()
        return i, trader, body + b"&signature=" + sig.encode()

    async def send(
        self, resp_type: str, res: PhaseResult, t_ref: float, gate: asyncio.Semaphore | None = None
    ) -> None:
        """One request; its latency is measured from t_ref (loop clock). `gate` (open loop)
        bounds the requests in flight to the connection pool, so that the timestamp is signed
        when the request can go out (not before queueing for a connection: -1021)."""
        import aiohttp

        if gate is not None:
            await gate.acquire()
        try:
            i, trader, data = self.next_request(resp_type)
            session = self.sessions[i % len(self.sessions)]
            headers = {
                "X-MBX-APIKEY": trader.api_key,
                "Content-Type": "application/x-www-form-urlencoded",
            }
            res.sent += 1
            try:
                async with session.post("/api/v3/order", data=data, headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                res.errors[f"client: {type(exc).__name__}"] += 1
                return
        finally:
            if gate is not None:
                gate.release()
        now = asyncio.get_running_loop().time()
        res.last_answer = max(res.last_answer, now)
        try:
            body = json.loads(raw)
        except ValueError:
            res.errors[f"http {status} (not JSON)"] += 1
            return
        if status == 200 and "orderId" in body:
            res.ok += 1
            res.latencies_ms.append((now - t_ref) * 1000.0)
            if "status" in body:
                res.statuses[body["status"]] += 1
                res.fills += len(body.get("fills", ()))
        else:
            res.errors[f"http {status} code {body.get('code')}: {body.get('msg')}"] += 1


DRAIN_S = 10.0  # open loop: how long answers are awaited after the last scheduled start


async def _open_loop(
    load: Load, rate: float, seconds: float, resp_type: str, name: str, connections: int
) -> PhaseResult:
    """Request k starts at t0 + k/rate (open loop). Accepted orders/s = answers / (last answer
    - t0): equal to the rate when the stack keeps up, its capacity when it does not. Requests
    not answered DRAIN_S after the last scheduled start are cancelled and counted."""
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    res = PhaseResult(name, resp_type, rate, seconds)
    gate = asyncio.Semaphore(connections * len(load.sessions))
    tasks: set[asyncio.Task[None]] = set()
    t0 = loop.time() + 0.01
    for k in range(n):
        due = t0 + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            res.late_start_ms = max(res.late_start_ms, -delay * 1000)
        task = asyncio.create_task(load.send(resp_type, res, due, gate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=DRAIN_S)
        for task in pending:
            task.cancel()
        if pending:
            res.errors[f"unanswered {DRAIN_S:.0f} s after the last start (cancelled)"] += len(
                pending
            )
            await asyncio.wait(pending)
    res.duration = max(seconds, (res.last_answer or loop.time()) - t0)
    return res


async def _closed_loop(
    load: Load, concurrency: int, seconds: float, resp_type: str, name: str
) -> PhaseResult:
    """`concurrency` workers send back to back for `seconds`; only answers that arrive inside
    the window count (the counters are snapshotted at its end)."""
    loop = asyncio.get_running_loop()
    res = PhaseResult(name, resp_type, None, seconds)
    t_end = loop.time() + seconds

    async def worker() -> None:
        while loop.time() < t_end:
            await load.send(resp_type, res, loop.time())

    async def stopwatch() -> PhaseResult:
        await asyncio.sleep(max(0.0, t_end - loop.time()))
        out = PhaseResult(name, resp_type, None, seconds)
        out.ok, out.sent, out.fills = res.ok, res.sent, res.fills
        out.latencies_ms = list(res.latencies_ms)
        out.errors, out.statuses = (
            collections.Counter(res.errors),
            collections.Counter(res.statuses),
        )
        return out

    window = asyncio.create_task(stopwatch())
    await asyncio.gather(window, *(worker() for _ in range(concurrency)))
    return window.result()


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def _report(res: PhaseResult) -> None:
    lat = sorted(res.latencies_ms)
    offered = f"{res.offered:.0f} orders/s (open loop)" if res.offered else "closed loop"
    print(f"\n== {res.name} [{res.resp_type}] ==")
    print(f"offered rate:      {offered}")
    print(f"sent:              {res.sent}; answers over {res.duration:.1f} s")
    print(f"accepted orders/s: {res.ok / res.duration:.1f}  ({res.ok} HTTP 200)")
    print(f"errors:            {sum(res.errors.values())}")
    for what, n in res.errors.most_common():
        print(f"  {n:7d}  {what}")
    if res.statuses:
        statuses = ", ".join(f"{k} {v}" for k, v in res.statuses.most_common())
        print(f"order status:      {statuses}; fills {res.fills}")
    print(
        f"latency ms:        p50 {_pct(lat, 0.50):.1f}  p90 {_pct(lat, 0.90):.1f}"
        f"  p99 {_pct(lat, 0.99):.1f}  max {lat[-1] if lat else float('nan'):.1f}"
    )
    if res.offered:
        print(f"scheduler lag:     max {res.late_start_ms:.1f} ms behind schedule")
    if res.cpu:
        wall = res.cpu["_wall"]
        per = float(max(res.ok, 1))
        print(
            f"CPU (cores used; ms CPU per accepted order), wall {wall:.1f} s; machine busy"
            f" {res.cpu['_machine_busy_cores']:.2f} of {os.cpu_count()} cores"
            " (client and server share this machine):"
        )
        for label, secs in sorted(res.cpu.items(), key=lambda kv: -kv[1]):
            if label.startswith("_"):
                continue
            print(f"  {label:32s} {secs / wall:5.2f}   {secs * 1000 / per:6.2f}")
        print(f"  {'other processes on the machine':32s} {res.cpu['_others_cores']:5.2f}")
        server = res.cpu.get("_postgres_server", 0.0)
        print(
            f"  {'(postgres server, all databases':32s} {server / wall:5.2f}   "
            f"{server * 1000 / per:6.2f}  incl. exited backends: upper bound)"
        )
    if res.pg_waits:
        print("PostgreSQL backends of the bench db, mean number per state (sampled every 20 ms):")
        for what, mean in list(res.pg_waits.items())[:8]:
            print(f"  {mean:6.2f}  {what}")


# --------------------------------------------------------------------------- profiling


# (label, substrings of a py-spy frame "function (path:line)"); a sample counts towards a label
# when any of its frames matches (inclusive shares: labels overlap, they do not sum to 100 %).
PROFILE_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("HTTP server: daphne + Twisted (parse, respond)", (
        "twisted/web/", "twisted/internet/tcp.py", "twisted/internet/abstract.py",
        "daphne/http_protocol.py", "application_checker (daphne",
    )),
    ("  Twisted Content-Type parsing (email package)", ("_parseContentType (twisted",)),
    ("API front + endpoint, event-loop side", ("binance/asgi.py", "binance/endpoint.py")),
    ("  API key lookup / mark used", ("accounts/apikeys.py",)),
    ("  rate limit (Redis pipeline)", ("binance/ratelimit.py",)),
    ("  HMAC signature + timing check", ("binance/signing.py",)),
    ("  parameter validation", ("binance/params.py",)),
    ("  JSON response", ("binance/responses.py",)),
    ("order_place (orders/services.py)", ("order_place (orders/services.py",)),
    ("  market_get (one query per order)", ("market_get (orders/selectors.py",)),
    ("  _validate (filters, reference price)", ("_validate (orders/services.py",)),
    ("  _insert (count, insert order, hold, ledger)", ("_insert (orders/services.py",)),
    ("  ledger_post (lock accounts, postings, balances)", ("ledger_post (clearing/services.py",)),
    ("  COMMIT", ("commit (django/db/backends/base/base.py",)),
    ("Django ORM (query build/compile, model instances)", ("django/db/models/",)),
    ("psycopg (send query, wait for result)", ("psycopg/",)),
    ("redis-py (sync and asyncio)", ("redis/",)),
    ("API thread pool (db_call: services, ORM, SQL)", ("_with_connection_hygiene",)),
]  # fmt: skip

# Exclusive view: each sample goes to the layer of its leaf-most frame that matches one (the
# first entry wins on a tie); shares sum to 100 %.
PROFILE_LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("PostgreSQL driver (psycopg)", ("psycopg/",)),
    ("Redis client (redis-py)", ("redis/",)),
    ("Django ORM + transaction code", ("django/db/",)),
    ("order and ledger services (orders/, clearing/, matching/)", (
        "(orders/", "(clearing/", "(matching/", "(marketdata/",
    )),
    ("API layer (exchange_site/binance/)", ("exchange_site/binance/",)),
    ("HTTP server (daphne, Twisted, email header parsing)", (
        "daphne/", "twisted/", "email/", "autobahn/",
    )),
    ("Django request/response objects", ("django/http/", "django/core/handlers/", "django/")),
    ("asyncio, asgiref, thread pool", ("asyncio/", "asgiref/", "concurrent/", "threading.py")),
]  # fmt: skip


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, needles in PROFILE_LAYERS:
            if any(n in frame for n in needles):
                return label
    return "other"


def _profile_summary(raw_path: Path, what: str, top: int = 25) -> str:
    """Bucket, layer and per-function sample shares from py-spy's raw (collapsed) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    selfc: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        selfc[frames[-1]] += count
        layers[_layer(frames)] += count
        for label, needles in PROFILE_BUCKETS:
            if any(n in f for f in frames for n in needles):
                buckets[label] += count
    if not total:
        return "no samples"
    pct = 100.0 / total
    lines = [f"{total} samples ({what})", "", "by layer (exclusive, leaf-most match):"]
    lines += [f"  {n * pct:5.1f}%  {label}" for label, n in layers.most_common()]
    lines += ["", "by part (inclusive):"]
    lines += [f"  {buckets[label] * pct:5.1f}%  {label}" for label, _ in PROFILE_BUCKETS]
    lines += ["", "top functions, inclusive:"]
    lines += [f"  {n * pct:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "top functions, self:"]
    lines += [f"  {n * pct:5.1f}%  {f}" for f, n in selfc.most_common(top)]
    return "\n".join(lines)


PROFILES = {
    # file stem: (extra py-spy flags, description)
    "web1-pyspy-gil": (["--gil"], "only the thread holding the GIL: where the web's CPU goes"),
    "web1-pyspy-threads": ([], "every non-idle thread, DB waits included: where requests wait"),
}


def _spy_start(args: argparse.Namespace, pid: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    spies = []
    for stem, (flags, _) in PROFILES.items():
        argv = [
            args.py_spy, "record", "-p", str(pid), "-d", str(int(args.profile_seconds)),
            "-r", "100", "--nonblocking", "-f", "raw", "-o", str(log_dir / f"{stem}.txt"), *flags,
        ]  # fmt: skip
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
    return spies


def _spy_report(args: argparse.Namespace, log_dir: Path) -> None:
    for stem, (_, what) in PROFILES.items():
        raw = log_dir / f"{stem}.txt"
        if not raw.exists():
            print(f"py-spy wrote no {raw} (is {args.py_spy} installed?); skipped")
            continue
        summary = _profile_summary(raw, what)
        (log_dir / f"{stem}-summary.txt").write_text(summary + "\n")
        print(f"\n-- py-spy, web process 1: {what} ({raw}) --\n{summary}")


# --------------------------------------------------------------------------- main


async def _run_phases(
    args: argparse.Namespace, procs: list[Proc], ports: list[int], traders: list[Trader],
    meter: CpuMeter, log_dir: Path,
) -> list[PhaseResult]:  # fmt: skip
    results: list[PhaseResult] = []
    load = Load(ports, traders, args.seed)
    concurrency = args.concurrency or 24 * args.web_procs
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    resp_types = [r.strip().upper() for r in args.resp_types.split(",") if r.strip()]
    rates = [float(r) for r in str(args.rate).split(",") if r.strip()]
    plan: list[tuple[str, str, float]] = []
    for rt in resp_types:
        for mode in modes:
            if mode == "rate":
                plan.extend(("rate", rt, rate) for rate in rates)
            else:
                plan.append((mode, rt, 0.0))
    if args.profile:
        plan.append(("profile", resp_types[0], 0.0))
    try:
        for mode, resp_type, rate in plan:
            if mode == "rate":
                await load.open(args.connections)
                await _open_loop(load, rate, args.warmup, resp_type, "warm-up", args.connections)
                await asyncio.to_thread(_analyze)
                await asyncio.to_thread(meter.start)
                res = await _open_loop(
                    load, rate, args.seconds, resp_type, f"open loop at {rate:g}/s",
                    args.connections,
                )  # fmt: skip
            else:
                await load.open(concurrency)
                await _closed_loop(load, concurrency, args.warmup, resp_type, "warm-up")
                await asyncio.to_thread(_analyze)
                spies: list[subprocess.Popen[bytes]] = []
                seconds = args.seconds
                name = f"saturation, {concurrency} workers"
                if mode == "profile":
                    seconds = args.profile_seconds + 2
                    spies = _spy_start(args, procs[0].pid, log_dir)
                    name = f"profiled {name} (py-spy attached: not a benchmark figure)"
                await asyncio.to_thread(meter.start)
                res = await _closed_loop(load, concurrency, seconds, resp_type, name)
                for spy in spies:
                    await asyncio.to_thread(spy.wait, 60)
            res.cpu = await asyncio.to_thread(meter.stop)
            res.pg_waits = meter.pg_waits
            _report(res)
            if mode == "profile":
                _spy_report(args, log_dir)
            else:
                results.append(res)
            dead = [p.name for p in procs if not p.alive()]
            if dead:
                raise RuntimeError(f"process(es) died: {dead}; logs in {log_dir}")
    finally:
        await load.close()
    return results


def _book_and_backlog() -> str:
    from django.db import connection

    from exchange_site.redis import get_redis
    from matching.stream import stream_key

    with connection.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM orders_order GROUP BY status ORDER BY 2 DESC")
        by_status = ", ".join(f"{s} {n}" for s, n in cur.fetchall())
        cur.execute("SELECT count(*), count(*) FILTER (WHERE settled_at IS NULL) FROM orders_trade")
        trades, unsettled = cur.fetchone()
    stream_len = get_redis().xlen(stream_key(SYMBOL))
    return (
        f"orders by status: {by_status}\ntrades: {trades} ({unsettled} not settled yet);"
        f" stream length {stream_len}"
    )


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    _configure_env(args)
    _create_database(args.database_url)
    import django

    django.setup()
    from exchange_site.redis import get_redis

    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="bench_api-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    t_setup = time.monotonic()
    _reset()
    market, traders = _setup(args.traders)
    probe = _probe_order_place(traders[0])
    _analyze()
    print(
        f"setup: market {market.symbol}, {len(traders)} traders (unlimited tier),"
        f" {time.monotonic() - t_setup:.1f} s; logs in {log_dir}"
    )
    print(
        f"order_place (the service behind POST /api/v3/order) in-process, single thread:"
        f" {len(probe.sql)} SQL statements + {probe.redis_round_trips} Redis round trips per"
        f" order; {probe.wall_ms:.2f} ms wall, {probe.cpu_ms:.2f} ms CPU per call"
        f" ({probe.n} calls)"
    )
    (log_dir / "order_place-sql.txt").write_text("\n".join(probe.sql) + "\n")

    procs: list[Proc] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        procs, ports = _start_stack(args, log_dir)
        redis_pid = int(get_redis().info("server").get("process_id", 0)) or None
        print(
            f"stack: {args.web_procs} x daphne on ports {ports}, matcher,"
            f" celery worker (concurrency {args.worker_concurrency})"
            f"{', beat' if args.beat else ''};"
            f" client: one asyncio process (aiohttp, keep-alive pools) on the same"
            f" {os.cpu_count()}-core machine"
        )
        meter = CpuMeter(procs, redis_pid)
        results = asyncio.run(_run_phases(args, procs, ports, traders, meter, log_dir))
        time.sleep(1.0)
        print("\n" + _book_and_backlog())
    finally:
        for proc in reversed(procs):
            proc.stop()
        signal.signal(signal.SIGTERM, previous)

    print("\n== summary (client and server share this machine) ==")
    for res in results:
        lat = sorted(res.latencies_ms)
        what = f"{res.offered:.0f}/s offered" if res.offered else "saturation"
        cpu = res.cpu
        ours = sum(v for k, v in cpu.items() if not k.startswith("_"))
        print(
            f"{res.resp_type:4s} {what:15s} accepted {res.ok / res.duration:6.1f} orders/s"
            f"  errors {sum(res.errors.values()):5d}  p50 {_pct(lat, 0.5):6.1f}"
            f"  p90 {_pct(lat, 0.9):6.1f}  p99 {_pct(lat, 0.99):6.1f}"
            f"  max {lat[-1] if lat else float('nan'):6.1f} ms"
            f" | CPU/order {ours * 1000 / max(res.ok, 1):4.1f} ms (web"
            f" {cpu.get('web', 0) * 1000 / max(res.ok, 1):4.1f}); other load"
            f" {cpu.get('_others_cores', 0):.2f} cores"
        )
    saturation = [r for r in results if r.offered is None]
    for res in saturation[1:]:
        print(f"orders/s ({res.resp_type}): {res.ok / res.duration:.0f}")
    if saturation:
        print(f"orders/s: {saturation[0].ok / saturation[0].duration:.0f}")


if __name__ == "__main__":
    main()
