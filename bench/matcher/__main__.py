"""``python -m bench.matcher``: see bench/matcher/__init__.py."""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness.database import (
    argument_parser,
    bench_environ,
    database_create,
    database_reset,
    money_check,
)
from bench.harness.procs import Proc, wait_celery, worker_argv
from bench.harness.stats import pct
from bench.harness.stream_load import produce

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/exchange_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argument_parser(
        "python -m bench.matcher",
        "Matcher benchmark (real Matcher, PostgreSQL commit, Celery settlement);"
        " see bench/matcher/__init__.py and docs/bench-matcher.md.",
        database_url=DEFAULT_DATABASE_URL,
        redis_url=DEFAULT_REDIS_URL,
    )
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
    p.add_argument(
        "--settle-func", metavar="MODULE:FUNC", default="clearing.settlement:market_settle",
        help="with --settle loop: the settle function to loop (prototypes)",
    )  # fmt: skip
    p.add_argument("--settle-loop-market", type=int, help=argparse.SUPPRESS)  # internal
    return p.parse_args(argv)


def _settle_loop_proc(log_dir: Path, market_id: int, args: argparse.Namespace) -> Proc:
    argv = [
        sys.executable, "-m", "bench.matcher", "--settle-loop-market", str(market_id),
        "--database-url", args.database_url, "--redis-url", args.redis_url,
        "--settle-func", args.settle_func,
    ]  # fmt: skip
    return Proc("settle-loop", argv, os.environ, log_dir)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    bench_environ(database_url=args.database_url, redis_url=args.redis_url)
    import django

    if args.settle_loop_market is not None:
        django.setup()
        from bench.matcher.settlement import settle_loop

        settle_loop(args.settle_loop_market, args.settle_func)
        return

    database_create(args.database_url, jit=args.pg_jit)
    django.setup()

    from django.db import connection

    from bench.matcher.instrumented import bench_matcher_class
    from bench.matcher.settlement import settlement_stats, wait_settled
    from bench.matcher.workload import N_TRADERS, SYMBOL, commands_build, market_and_traders
    from orders.verdicts import request_id_new

    n = args.orders or (int(args.rate * args.seconds) if args.rate > 0 else 100_000)
    load_before = os.getloadavg()
    log_dir = Path(tempfile.mkdtemp(prefix="bench_matcher-"))
    settler: Proc | None = None
    producer = None
    t_setup = time.perf_counter()
    try:
        database_reset()
        t_reset = time.perf_counter()
        market, user_ids = market_and_traders()
        if args.settle == "celery":  # starts while we build
            settler = Proc("celery", worker_argv("bench", args.concurrency), os.environ, log_dir)
            settler.start()
        cmds = commands_build(market, user_ids, n, args.seed)
        t_built = time.perf_counter()
        n_cancel = sum(1 for c in cmds if type(c).__name__ == "CancelOrder")
        items = [(c, request_id_new()) for c in cmds]
        del cmds
        if settler is not None:
            wait_celery(settler)
        elif args.settle == "loop":
            settler = _settle_loop_proc(log_dir, market.id, args).start()
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
        producer = ctx.Process(
            target=produce, args=(items, SYMBOL, args.rate, args.redis_url, go, out)
        )
        producer.start()
        del items
        gc.collect()
        gc.freeze()  # setup garbage is no matcher state: keep it out of the GC's scans

        matcher = bench_matcher_class(args.matcher_class)(
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
            settled_all = wait_settled(timeout=args.settle_timeout)
        t_settled = time.monotonic()
        stats = settlement_stats(market.id)  # now: the settlement deadline
        if settler is not None:
            settler.stop(warm=True)  # the invariants are read in several queries
        settler = None
        problems = money_check()
    finally:
        if settler is not None:
            settler.stop(warm=True)
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
        f"stream-to-commit p50/p99/max ms: {pct(lat, 0.50):.1f} / {pct(lat, 0.99):.1f} / "
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
