"""``python -m bench.api``: see bench/api/__init__.py."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness.cpu import CpuMeter
from bench.harness.database import (
    analyze,
    argument_parser,
    bench_environ,
    database_create,
    database_reset,
    money_check,
)
from bench.harness.procs import (
    Proc,
    beat_argv,
    free_port,
    http_ok,
    matcher_argv,
    wait_for,
    wait_web,
    web_argv,
    worker_argv,
)
from bench.harness.pyspy import spy_report, spy_start
from bench.harness.rest_load import (
    Load,
    OrderMix,
    PhaseResult,
    Trader,
    closed_loop,
    open_loop,
    phase_report,
)
from bench.harness.stats import pct

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/exchange_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argument_parser(
        "python -m bench.api",
        "REST order-placement benchmark (signed POST /api/v3/order) against the"
        " real stack; see bench/api/__init__.py and docs/bench-api.md.",
        database_url=DEFAULT_DATABASE_URL,
        redis_url=DEFAULT_REDIS_URL,
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
    p.add_argument(
        "--server", choices=("daphne", "uvicorn"),
        default=os.environ.get("BENCH_WEB_SERVER", "daphne"),
        help="the web processes' ASGI server (default daphne, as make run; env BENCH_WEB_SERVER)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument(
        "--peer", action=argparse.BooleanOptionalAction, default=True,
        help="also drive matching-engine 0.1.1's gateway (.venv-peer/) and print ours / peer",
    )  # fmt: skip
    p.add_argument("--log-dir", help="process logs (default: a new temporary directory)")
    return p.parse_args(argv)


def _stack_start(
    args: argparse.Namespace, symbol: str, log_dir: Path
) -> tuple[list[Proc], list[int]]:
    """--web-procs daphne processes, the matcher, a worker (and beat); up when the web answers."""
    env = os.environ
    ports = [free_port() for _ in range(args.web_procs)]
    procs = [
        Proc(f"web{i + 1}", web_argv(port, args.server), env, log_dir)
        for i, port in enumerate(ports)
    ]
    procs.append(Proc("matcher", matcher_argv([symbol]), env, log_dir))
    procs.append(Proc("worker", worker_argv("bench-api", args.worker_concurrency), env, log_dir))
    if args.beat:
        procs.append(Proc("beat", beat_argv(log_dir), env, log_dir))
    for proc in procs:
        proc.start()
    wait_web(ports, procs)
    return procs, ports


async def _run_phases(
    args: argparse.Namespace, load: Load, procs: list[Proc], meter: CpuMeter, log_dir: Path,
    resp_types: list[str], *, profile: bool,
) -> list[PhaseResult]:  # fmt: skip
    from bench.api.workload import HOT_TABLES

    results: list[PhaseResult] = []
    concurrency = args.concurrency or 24 * args.web_procs
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    rates = [float(r) for r in str(args.rate).split(",") if r.strip()]
    plan: list[tuple[str, str, float]] = []
    for rt in resp_types:
        for mode in modes:
            if mode == "rate":
                plan.extend(("rate", rt, rate) for rate in rates)
            else:
                plan.append((mode, rt, 0.0))
    if profile:
        plan.append(("profile", resp_types[0], 0.0))
    try:
        for mode, resp_type, rate in plan:
            if mode == "rate":
                await load.open(args.connections)
                await open_loop(load, rate, args.warmup, resp_type, "warm-up", args.connections)
                await asyncio.to_thread(analyze, HOT_TABLES)
                await asyncio.to_thread(meter.start)
                res = await open_loop(
                    load, rate, args.seconds, resp_type, f"open loop at {rate:g}/s",
                    args.connections,
                )  # fmt: skip
            else:
                await load.open(concurrency)
                await closed_loop(load, concurrency, args.warmup, resp_type, "warm-up")
                await asyncio.to_thread(analyze, HOT_TABLES)
                spies: list[subprocess.Popen[bytes]] = []
                seconds = args.seconds
                name = f"saturation, {concurrency} workers"
                if mode == "profile":
                    seconds = args.profile_seconds + 2
                    spies = spy_start(args.py_spy, procs[0].pid, args.profile_seconds, log_dir)
                    name = f"profiled {name} (py-spy attached: not a benchmark figure)"
                await asyncio.to_thread(meter.start)
                res = await closed_loop(load, concurrency, seconds, resp_type, name)
                for spy in spies:
                    await asyncio.to_thread(spy.wait, 60)
            res.cpu = await asyncio.to_thread(meter.stop)
            res.pg_waits = meter.pg_waits
            phase_report(res)
            if mode == "profile":
                spy_report(args.py_spy, log_dir)
            else:
                results.append(res)
            dead = [p.name for p in procs if not p.alive()]
            if dead:
                raise RuntimeError(f"process(es) died: {dead}; logs in {log_dir}")
    finally:
        await load.close()
    return results


def _peer_run(
    args: argparse.Namespace, mix: OrderMix, traders: list[Trader], log_dir: Path
) -> list[PhaseResult]:
    """The same client, order mix and phases against the peer gateway: matching-engine 0.1.1's
    FastAPI app under uvicorn (Python 3.12, its own venv `.venv-peer/`, made by
    scripts/peer_venv.sh), with its fsynced write-ahead log; no authentication, no funds."""
    from bench.api.workload import STEP

    python = subprocess.run(
        ["bash", str(ROOT / "scripts" / "peer_venv.sh")],
        capture_output=True, text=True, check=True, env={**os.environ, "PEER_EXTRAS": "[gateway]"},
    ).stdout.strip()  # fmt: skip
    port = free_port()
    symbol = "BTC-USDT"
    env = {
        **os.environ,
        "ME_DATA_DIR": str(log_dir / "peer-data"),
        "ME_MARKETS": f"{symbol}:{mix.tick}:{STEP}",
    }
    argv = [python, "-m", "matching_engine", "serve", "--port", str(port)]
    peer = Proc("peer", argv, env, log_dir)
    peer.start()
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "the peer", [peer])
        print(
            f"\npeer: matching-engine 0.1.1 gateway (uvicorn, httptools, fsynced WAL) on port"
            f" {port}, {python}; same client, order mix and phases; our stack stopped"
        )
        load = Load([port], traders, mix, args.seed, peer_symbol=symbol)
        meter = CpuMeter([peer], None)
        return asyncio.run(_run_phases(args, load, [peer], meter, log_dir, ["PEER"], profile=False))
    finally:
        peer.stop()


def _summary(results: list[PhaseResult], peer: list[PhaseResult]) -> None:
    print("\n== summary (client and server share this machine) ==")
    for res in results + peer:
        lat = sorted(res.latencies_ms)
        what = f"{res.offered:.0f}/s offered" if res.offered else "saturation"
        cpu = res.cpu
        ours = sum(v for k, v in cpu.items() if not k.startswith("_"))
        print(
            f"{res.resp_type:4s} {what:15s} accepted {res.ok / res.duration:6.1f} orders/s"
            f"  errors {sum(res.errors.values()):5d}  p50 {pct(lat, 0.5):6.1f}"
            f"  p90 {pct(lat, 0.9):6.1f}  p99 {pct(lat, 0.99):6.1f}"
            f"  max {lat[-1] if lat else float('nan'):6.1f} ms"
            f" | CPU/order {ours * 1000 / max(res.ok, 1):4.1f} ms (web"
            f" {cpu.get('web', 0) * 1000 / max(res.ok, 1):4.1f}); other load"
            f" {cpu.get('_others_cores', 0):.2f} cores"
        )
    saturation = [r for r in results if r.offered is None]
    peer_saturation = [r for r in peer if r.offered is None]
    for res in saturation[1:]:
        print(f"orders/s ({res.resp_type}): {res.ok / res.duration:.0f}")
    if peer_saturation:
        rate = peer_saturation[0].ok / peer_saturation[0].duration
        print(f"peer orders/s: {rate:.0f}")
        for res in saturation:
            print(
                f"ours / peer ({res.resp_type} saturation): {res.ok / res.duration / rate:.2f}x"
                " (target >= 0.5x)"
            )
    if saturation:
        print(f"orders/s: {saturation[0].ok / saturation[0].duration:.0f}")


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    extra = {"MAX_OPEN_ORDERS_PER_MARKET": "1000000"}  # the open-order filter must not refuse
    if args.api_db_threads:
        extra["API_DB_THREADS"] = str(args.api_db_threads)
    bench_environ(database_url=args.database_url, redis_url=args.redis_url, **extra)
    database_create(args.database_url)
    import django

    django.setup()
    from bench.api.workload import (
        HOT_TABLES,
        MIX,
        book_and_backlog,
        market_and_traders,
        order_place_probe,
    )
    from exchange_site.redis import get_redis

    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="bench_api-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    t_setup = time.monotonic()
    database_reset()
    market, traders = market_and_traders(args.traders)
    probe = order_place_probe(traders[0])
    analyze(HOT_TABLES)
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
        procs, ports = _stack_start(args, MIX.symbol, log_dir)
        redis_pid = int(get_redis().info("server").get("process_id", 0)) or None
        print(
            f"stack: {args.web_procs} x {args.server} on ports {ports}, matcher,"
            f" celery worker (concurrency {args.worker_concurrency})"
            f"{', beat' if args.beat else ''};"
            f" client: one asyncio process (aiohttp, keep-alive pools) on the same"
            f" {os.cpu_count()}-core machine"
        )
        meter = CpuMeter(procs, redis_pid)
        load = Load(ports, traders, MIX, args.seed)
        resp_types = [r.strip().upper() for r in args.resp_types.split(",") if r.strip()]
        results = asyncio.run(
            _run_phases(args, load, procs, meter, log_dir, resp_types, profile=args.profile)
        )
        time.sleep(1.0)
        print("\n" + book_and_backlog())
    finally:
        for proc in reversed(procs):
            proc.stop(warm=proc.name == "worker")
        signal.signal(signal.SIGTERM, previous)
    problems = money_check()
    print(f"ledger_check_invariants(): {problems}")
    peer = _peer_run(args, MIX, traders, log_dir) if args.peer else []

    _summary(results, peer)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
