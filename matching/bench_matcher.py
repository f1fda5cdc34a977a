"""Matcher benchmark: ``python -m matching.bench_matcher [--rate N] [--seconds S] [--orders N]``.

Measures the real matching worker (matching.worker.Matcher, in this process) including its
PostgreSQL batch commit, fed through the real Redis command stream, and settlement by a real
Celery worker (``celery -A exchange_site worker``) fed by the matcher's settle_market_enqueue.
DESIGN.md targets: matcher >= 20,000 commands/s sustained, p99 stream-to-commit < 20 ms at
5,000/s; settlement lag p99 < 1 s at 1,000 trades/s.

Isolation: its own database and Redis db (default ``postgres://postgres@127.0.0.1:5432/
exchange_bench`` and ``redis://127.0.0.1:6379/14``; the database name must contain "bench").
Every run creates the database if missing, migrates, truncates the market/order/trade/ledger
tables and flushes its Redis db.

Setup: market BTCUSDT (tick 0.1, step 0.001), 50 traders funded through
clearing.services.balance_credit_external, then the standard random stream of the engine
benchmark (matching.engine.bench.build_stream: ~70% LIMIT GTC around the touch, a fifth of
them crossing, ~30% cancels of resting orders, sizes skewed small), its orders pre-created in
bulk as PENDING_NEW rows with their clearing.Hold, and one ledger lock per (user, asset) for the
sum of that user's holds (so LOCKED == sum of holds holds from the start). Every command carries
a request id, as the web's do, so the matcher publishes a verdict per command.

Run: a forked producer XADDs the commands with matching.stream.commands_enqueue, at --rate
commands/s (paced in ~1 ms slices) or as fast as it can (--rate 0: saturation). The matcher runs
run_once() until every entry is acknowledged; a subclass records, for every entry of a batch,
commit time minus the entry id's millisecond timestamp (Redis server clock, same host; ids are
truncated to the ms, so figures read up to 1 ms high). Then the script waits until settlement
has settled every trade and released every finished order's hold, and checks
clearing.invariants.ledger_check_invariants().

The last lines printed are the figures:
  offered rate / commands/s / stream-to-commit p50/p99/max ms / trades /
  settlement trades/s / settlement lag p50/p99 ms
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/exchange_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
SYMBOL = "BTCUSDT"
TICK = Decimal("0.1")
STEP = Decimal("0.001")
N_TRADERS = 50
ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# Tables emptied at the start of every run (CASCADE reaches whatever references them).
RESET_TABLES = [
    "orders_trade",
    "clearing_hold",
    "orders_order",
    "matching_marketenginestate",
    "orders_market",
    "clearing_posting",
    "clearing_ledgertransaction",
    "clearing_ledgeraccount",
]


# --------------------------------------------------------------------------- environment


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rate", type=int, default=5000, help="offered commands/s; 0 = saturation")
    p.add_argument(
        "--seconds", type=float, default=20.0,
        help="length of the offered-rate phase (stream size = rate * seconds)",
    )  # fmt: skip
    p.add_argument(
        "--orders", type=int, default=None,
        help="stream size in commands (default rate*seconds, or 100,000 at --rate 0)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--batch-size", type=int, default=1000, help="Matcher batch_size")
    p.add_argument("--block-ms", type=int, default=20, help="Matcher block_ms")
    p.add_argument(
        "--settle", choices=("celery", "loop", "none"), default="celery",
        help="celery: a real worker fed by the matcher; loop: a subprocess looping "
        "market_settle; none: skip settlement",
    )  # fmt: skip
    p.add_argument("--concurrency", type=int, default=2, help="Celery worker concurrency")
    p.add_argument(
        "--settle-timeout", type=float, default=60.0,
        help="seconds to wait after the last commit for settlement to finish; trades still "
        "unsettled then count with lag = their age (a lower bound)",
    )  # fmt: skip
    p.add_argument(
        "--matcher-class", metavar="MODULE:CLASS",
        help="a Matcher subclass to measure instead of matching.worker.Matcher (prototypes)",
    )  # fmt: skip
    p.add_argument("--profile", metavar="FILE", help="cProfile the matcher loop into FILE")
    p.add_argument(
        "--pg-jit", action="store_true",
        help="keep the server's JIT setting for the bench database (default: jit=off there; "
        "with JIT, PostgreSQL compiled one settlement bulk_update of ~30k CASE branches for "
        "over 15 minutes, uninterruptible)",
    )  # fmt: skip
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument(
        "--settle-func", metavar="MODULE:FUNC", default="clearing.settlement:market_settle",
        help="with --settle loop: the settle function to loop (prototypes)",
    )  # fmt: skip
    p.add_argument("--settle-loop-market", type=int, help=argparse.SUPPRESS)  # internal
    return p.parse_args(argv)


def _configure_env(args: argparse.Namespace) -> None:
    """Point Django (and every child process) at the bench database and Redis db."""
    import dj_database_url

    name = dj_database_url.parse(args.database_url).get("NAME") or ""
    if "bench" not in name:
        sys.exit(f"refusing to use database {name!r}: its name must contain 'bench'")
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["REDIS_URL"] = args.redis_url
    os.environ["CELERY_BROKER_URL"] = args.redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "exchange_site.settings.base"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["PYTHONUNBUFFERED"] = "1"


def _create_database(url: str, jit: bool) -> None:
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
        name = sql.Identifier(cfg["NAME"])
        if jit:
            conn.execute(sql.SQL("ALTER DATABASE {} RESET jit").format(name))
        else:
            conn.execute(sql.SQL("ALTER DATABASE {} SET jit = off").format(name))


def _terminate_other_sessions(timeout: float = 60) -> None:
    """End every other session on the bench database (a killed worker's query keeps running)."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cur:
        while True:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (left,) = cur.fetchone()
            if not left:
                return
            if time.monotonic() > deadline:
                print(f"warning: {left} bench sessions did not end", file=sys.stderr)
                return
            time.sleep(0.5)


def _reset() -> None:
    from django.core.management import call_command
    from django.db import connection

    from exchange_site.redis import get_redis

    _terminate_other_sessions()
    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(RESET_TABLES)} RESTART IDENTITY CASCADE")
    get_redis().flushdb()


# --------------------------------------------------------------------------- setup


def _setup_market_and_traders() -> tuple[Any, list[int]]:
    from accounts.models import User
    from accounts.services import user_create
    from orders.services import market_create

    market = market_create(
        base="BTC", quote="USDT", tick_size=TICK, step_size=STEP, min_notional=Decimal("1"),
    )  # fmt: skip
    user_ids = []
    for i in range(N_TRADERS):
        name = f"bench-trader-{i:02d}"
        user = User.objects.filter(username=name).first() or user_create(
            username=name, password=None
        )
        user_ids.append(user.id)
    return market, user_ids


def _build_commands(market: Any, user_ids: list[int], n: int, seed: int) -> list[Any]:
    """The engine benchmark's stream, its orders inserted as PENDING_NEW rows with holds."""
    from django.db import transaction

    from clearing.models import Hold
    from clearing.services import balance_credit_external, funds_lock_legs, ledger_post
    from matching.engine import CancelOrder, PlaceOrder, Side
    from bench.streams import build_stream
    from orders.models import Order

    stream = build_stream(n, seed)
    base_id, quote_id = market.base_id, market.quote_id
    places = [c for c in stream if type(c) is PlaceOrder]
    owner = {c.order_id: user_ids[c.owner_id % len(user_ids)] for c in places}
    needed: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    rows = []
    for c in places:
        uid = owner[c.order_id]
        price, qty = TICK * c.price_ticks, STEP * c.qty_lots
        buy = c.side == Side.BUY
        amount = price * qty if buy else qty
        asset = quote_id if buy else base_id
        needed[(uid, asset)] += amount
        rows.append((c, uid, price, qty, buy, asset, amount))

    # Funding through the real service: each user gets what their holds need, plus a margin.
    for uid in user_ids:
        for asset in (base_id, quote_id):
            amount = needed.get((uid, asset), Decimal(0)) + Decimal(1000)
            balance_credit_external(
                user_id=uid, asset_id=asset, amount=amount, ref=f"bench-{uid}-{asset}"
            )

    with transaction.atomic(durable=True):
        orders = Order.objects.bulk_create(
            [
                Order(
                    user_id=uid,
                    market=market,
                    client_order_id=f"bench-{c.order_id}",
                    side="BUY" if buy else "SELL",
                    type="LIMIT",
                    time_in_force="GTC",
                    price=price,
                    quantity=qty,
                    stp_mode="NONE",
                    status=Order.Status.PENDING_NEW,
                )
                for c, uid, price, qty, buy, _, _ in rows
            ],
            batch_size=5000,
        )
        db_id = {c.order_id: o.id for (c, *_), o in zip(rows, orders, strict=True)}
        Hold.objects.bulk_create(
            [
                Hold(
                    key=f"order:{o.id}",
                    user_id=uid,
                    asset_id=asset,
                    order_id=o.id,
                    amount=amount,
                    original_amount=amount,
                )
                for (_, uid, _, _, _, asset, amount), o in zip(rows, orders, strict=True)
            ],
            batch_size=5000,
        )
        # One lock per (user, asset) for the sum of the holds: LOCKED == sum of holds.
        for (uid, asset), total in sorted(needed.items()):
            ledger_post(
                key=f"bench:hold:{uid}:{asset}", kind="order_hold",
                legs=funds_lock_legs(user_id=uid, asset_id=asset, amount=total), new_key=True,
            )  # fmt: skip

    # This server runs with autovacuum off: without statistics the planner joins the matcher's
    # 1,000-row VALUES list to orders by sequential scan. Give it what autovacuum would.
    from django.db import connection

    with connection.cursor() as cur:
        for table in ("orders_order", "clearing_hold", "clearing_ledgeraccount", "orders_trade"):
            cur.execute(f"VACUUM ANALYZE {table}")

    cmds: list[Any] = []
    for c in stream:
        if type(c) is PlaceOrder:
            cmds.append(c._replace(order_id=db_id[c.order_id], owner_id=owner[c.order_id]))
        else:
            assert type(c) is CancelOrder
            cmds.append(CancelOrder(db_id[c.order_id], owner[c.order_id]))
    return cmds


# --------------------------------------------------------------------------- producer


def _producer(items: list[Any], rate: int, redis_url: str, go: Any, out: Any) -> None:
    """Child process: XADD the commands at `rate`/s (0: as fast as possible)."""
    import redis

    from matching.stream import commands_enqueue

    try:
        client = redis.Redis.from_url(redis_url)
        n = len(items)
        go.wait()
        t0 = time.perf_counter()
        sent = 0
        if rate <= 0:
            while sent < n:
                chunk = items[sent : sent + 1000]
                commands_enqueue(client, SYMBOL, chunk)
                sent += len(chunk)
        else:
            while sent < n:
                now = time.perf_counter() - t0
                due = min(n, int(now * rate) + 1)
                if due > sent:
                    chunk = items[sent : min(due, sent + 1000)]
                    commands_enqueue(client, SYMBOL, chunk)
                    sent += len(chunk)
                # ~1 ms slices: the commands due in one slice go in one pipeline.
                time.sleep(0.001)
        out.send((sent, time.perf_counter() - t0))
        out.close()
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(0)  # never run the parent's finalizers (its DB and Redis sockets) here


# --------------------------------------------------------------------------- matcher


def _bench_matcher_class(spec: str | None) -> type:
    from matching.worker import Matcher

    if spec:
        import importlib

        module, _, name = spec.partition(":")
        Matcher = getattr(importlib.import_module(module), name)

    clock = time.perf_counter

    class BenchMatcher(Matcher):
        """The real Matcher, with per-entry stream-to-commit latency and phase timers."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.latencies_ms: list[float] = []
            self.commits: list[tuple[float, int, int]] = []  # (wall time, commands, trades)
            self.acked = 0
            self.phase = {"read": 0.0, "apply": 0.0, "commit": 0.0, "after_commit": 0.0}

        def _read(self) -> Any:
            t = clock()
            try:
                return super()._read()
            finally:
                self.phase["read"] += clock() - t

        def _apply(self, entries: Any) -> Any:
            t = clock()
            try:
                return super()._apply(entries)
            finally:
                self.phase["apply"] += clock() - t

        def _commit(self, batch: Any) -> None:
            t = clock()
            try:
                super()._commit(batch)
            finally:
                self.phase["commit"] += clock() - t

        def _after_commit(self, batch: Any) -> None:
            now = time.time()
            now_ms = now * 1000
            lat = self.latencies_ms
            for ids in batch.acks.values():
                for entry_id in ids:
                    lat.append(now_ms - int(entry_id.partition("-")[0]))
                self.acked += len(ids)
            self.commits.append((now, batch.commands, len(batch.trades)))
            t = clock()
            try:
                super()._after_commit(batch)
            finally:
                self.phase["after_commit"] += clock() - t

    return BenchMatcher


# --------------------------------------------------------------------------- settlement


def _celery_worker(log_dir: Path, concurrency: int) -> subprocess.Popen[bytes]:
    argv = [
        str(VENV_BIN / "celery"), "-A", "exchange_site", "worker", "--loglevel", "WARNING",
        "--concurrency", str(concurrency), "--pool", "prefork",
        "--hostname", f"bench-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with (log_dir / "celery.log").open("ab") as log:
        return subprocess.Popen(
            argv, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _settle_loop_proc(log_dir: Path, market_id: int, args: argparse.Namespace) -> Any:
    argv = [
        sys.executable, "-m", "matching.bench_matcher", "--settle-loop-market", str(market_id),
        "--database-url", args.database_url, "--redis-url", args.redis_url,
        "--settle-func", args.settle_func,
    ]  # fmt: skip
    with (log_dir / "settle-loop.log").open("ab") as log:
        return subprocess.Popen(
            argv, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _settle_loop(market_id: int, func: str) -> None:
    """Internal mode: settle the market in a loop until SIGTERM."""
    import importlib

    from django.db import connection

    module, _, name = func.partition(":")
    market_settle = getattr(importlib.import_module(module), name)

    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    while not stop:
        if market_settle(market_id=market_id) == 0:
            time.sleep(0.005)
    connection.close()


def _wait_celery_ready(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    from exchange_site.celery_app import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("celery worker exited during start-up")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("celery worker did not answer a ping")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)  # warm shutdown: the worker stops its pool itself
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_settled(timeout: float) -> bool:
    from clearing.settlement import unsettled_markets

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not unsettled_markets(older_than_s=0):
            return True
        time.sleep(0.1)
    return False


def _settlement_stats(market_id: int) -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            # An unsettled trade counts with its age so far: the percentiles are then lower
            # bounds, never flattered by leaving the slowest trades out.
            "WITH t AS (SELECT created_at, settled_at,"
            "  extract(epoch FROM coalesce(settled_at, clock_timestamp()) - created_at) AS lag"
            "  FROM orders_trade WHERE market_id = %s)"
            " SELECT count(*), count(settled_at),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), max(lag),"
            # settled per second: from the first trade to the last settlement, or to now
            # (the deadline) when some are left
            " extract(epoch FROM CASE WHEN count(*) > count(settled_at) THEN clock_timestamp()"
            "   ELSE max(settled_at) END - min(created_at)),"
            " extract(epoch FROM max(created_at) - min(created_at))"
            " FROM t",
            [market_id],
        )  # fmt: skip
        total, settled, p50, p99, mx, span, produced_span = cur.fetchone()
        cur.execute("SELECT count(*) FROM clearing_ledgertransaction WHERE kind = 'order_release'")
        (releases,) = cur.fetchone()
    return {
        "releases": releases,
        "trades": total, "settled": settled, "p50": p50, "p99": p99, "max": mx,
        "span": float(span or 0), "produced_span": float(produced_span or 0),
    }  # fmt: skip


# --------------------------------------------------------------------------- main


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    _configure_env(args)
    if args.settle_loop_market is not None:
        import django

        django.setup()
        _settle_loop(args.settle_loop_market, args.settle_func)
        return

    _create_database(args.database_url, args.pg_jit)
    import django

    django.setup()

    import multiprocessing as mp

    from django.db import connection

    from clearing.invariants import ledger_check_invariants
    from orders.verdicts import request_id_new

    n = args.orders or (int(args.rate * args.seconds) if args.rate > 0 else 100_000)
    load_before = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix="bench_matcher-"))
    settler: subprocess.Popen[bytes] | None = None
    producer = None
    t_setup = time.perf_counter()
    try:
        _reset()
        t_reset = time.perf_counter()
        market, user_ids = _setup_market_and_traders()
        if args.settle == "celery":
            settler = _celery_worker(log_dir, args.concurrency)  # starts while we build
        cmds = _build_commands(market, user_ids, n, args.seed)
        t_built = time.perf_counter()
        n_cancel = sum(1 for c in cmds if type(c).__name__ == "CancelOrder")
        items = [(c, request_id_new()) for c in cmds]
        del cmds
        if settler is not None:
            _wait_celery_ready(settler)
        elif args.settle == "loop":
            settler = _settle_loop_proc(log_dir, market.id, args)
        print(
            f"setup: {n} commands ({n - n_cancel} limit, {n_cancel} cancel), "
            f"{N_TRADERS} traders, {time.perf_counter() - t_setup:.1f} s (migrate+reset "
            f"{t_reset - t_setup:.1f} s, rows {t_built - t_reset:.1f} s); logs in {log_dir}"
        )

        # Fork the producer before the matcher opens anything; it waits for `go`.
        connection.close()
        ctx = mp.get_context("fork")
        go = ctx.Event()
        result, out = ctx.Pipe(duplex=False)
        producer = ctx.Process(target=_producer, args=(items, args.rate, args.redis_url, go, out))
        producer.start()
        del items
        gc.collect()
        gc.freeze()  # setup garbage is no matcher state: keep it out of the GC's scans

        matcher = _bench_matcher_class(args.matcher_class)(
            symbols=[SYMBOL], batch_size=args.batch_size, block_ms=args.block_ms,
            metrics_port=None,
        )  # fmt: skip
        matcher.setup()
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
        timeout = max(150.0, 3 * n / args.rate if args.rate > 0 else 0)
        go.set()
        t_start = time.monotonic()
        if profiler:
            profiler.enable()
        while matcher.acked < n and time.monotonic() - t_start < timeout:
            matcher.run_once()
        if profiler:
            profiler.disable()
        matcher._release_lease()
        t_matched = time.monotonic()
        if not result.poll(30):
            raise RuntimeError("the producer did not report")
        sent, produce_s = result.recv()
        producer.join(timeout=10)

        settled_all = True
        if args.settle != "none":
            settled_all = _wait_settled(timeout=args.settle_timeout)
        t_settled = time.monotonic()
        stats = _settlement_stats(market.id)  # now: the settlement deadline
        _stop(settler)  # the invariants are read in several queries: nothing may write now
        settler = None
        _terminate_other_sessions()
        problems = ledger_check_invariants()
    finally:
        _stop(settler)
        if producer is not None and producer.is_alive():
            producer.kill()

    # ------------------------------------------------------------------ report
    lat = sorted(matcher.latencies_ms)
    commits = matcher.commits
    applied = sum(c for _, c, _ in commits)
    if len(commits) > 1:
        window = commits[-1][0] - commits[0][0]
        sustained = (applied - commits[0][1]) / window if window > 0 else float("nan")
    else:
        window, sustained = 0.0, float("nan")
    batches = len(commits)
    phase = matcher.phase
    busy = sum(phase.values())
    load_after = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load_before[0]:.2f} at start, "
        f"{load_after[0]:.2f} at end (other processes' load inflates every figure)"
    )
    print(f"producer: {sent} commands XADDed in {produce_s:.2f} s ({sent / produce_s:,.0f}/s)")
    if matcher.acked < n:
        print(f"matcher: STOPPED after {timeout:.0f} s with {n - matcher.acked} entries unread")
    print(
        f"matcher: {applied} commands applied in {batches} batches "
        f"(mean {applied / max(batches, 1):.1f}, median "
        f"{statistics.median([c for _, c, _ in commits]) if commits else 0:.0f}), "
        f"first to last commit {window:.2f} s, loop {t_matched - t_start:.2f} s"
    )
    print(
        "matcher time per batch (ms): "
        + ", ".join(f"{k} {1000 * v / max(batches, 1):.2f}" for k, v in phase.items())
        + "; per command (us): "
        + ", ".join(f"{k} {1e6 * v / max(applied, 1):.1f}" for k, v in phase.items())
        + f"; busy {100 * (busy - phase['read']) / max(t_matched - t_start, 1e-9):.0f}% "
        "outside read"
    )
    if stats["produced_span"] > 0:
        print(f"trade production: {stats['trades'] / stats['produced_span']:,.0f} trades/s")
    if args.settle != "none":
        print(
            f"settlement: {stats['settled']}/{stats['trades']} trades settled and "
            f"{stats['releases']} finished orders' holds released"
            f"{'' if settled_all else ' (TIMED OUT)'}, drained "
            f"{t_settled - t_matched:.2f} s after the last commit ({args.settle})"
        )
    print(f"ledger_check_invariants(): {problems}")
    if args.profile and profiler:
        import pstats

        profiler.dump_stats(args.profile)
        print(f"profile written to {args.profile}", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)

    def ms(v: Any) -> str:
        return "n/a" if v is None else f"{1000 * float(v):.0f}"

    offered = f"{args.rate}/s" if args.rate > 0 else "saturation (as fast as possible)"
    # Trades settled per second, from the first trade's creation to the last settlement (or to
    # the deadline when trades were left unsettled).
    settle_rate = stats["settled"] / stats["span"] if stats["span"] > 0 else 0.0
    print(f"offered rate: {offered}")
    print(f"commands/s: {sustained:,.0f}")
    print(
        f"stream-to-commit p50/p99/max ms: {_pct(lat, 0.50):.1f} / {_pct(lat, 0.99):.1f} / "
        f"{lat[-1] if lat else float('nan'):.1f}"
    )
    print(f"trades: {stats['trades']}")
    if args.settle == "none":
        stats["p50"] = stats["p99"] = None
        stats["trades"] = stats["settled"]  # nothing censored: nothing measured
    print(f"settlement trades/s: {settle_rate:,.0f}")
    censored = stats["trades"] - stats["settled"]
    print(
        f"settlement lag p50/p99 ms: {ms(stats['p50'])} / {ms(stats['p99'])}"
        + (f"  (lower bound: {censored} trades unsettled at the deadline)" if censored else "")
    )
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
