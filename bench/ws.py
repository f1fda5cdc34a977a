"""``python -m bench.ws`` (``make bench-ws``): trade to WebSocket client, against the real stack.

N sockets each on one market's trade and depth streams (`/stream?streams=btcusdt@trade/
btcusdt@depth@100ms`) of one web process while signed orders trade through `POST /api/v3/order`
of a second one (open loop, half of them crossing): the figure is the fan-out's, not REST's.
Prints the clients still held at the end, messages/s received, and the latency from a trade's
commit (its `T`, the matcher's commit time in ms) to its receipt by each client: p50/p99 over
every (trade, client) pair; then the web process's own commit-to-send histogram. Target
(docs/architecture.md): p99 < 10 ms with 500 clients. The client runs in one asyncio process on the
same machine as the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.harness.database import argument_parser, bench_environ, database_create, money_check
from bench.harness.procs import (
    Proc,
    beat_argv,
    free_port,
    matcher_argv,
    wait_web,
    web_argv,
    worker_argv,
)
from bench.harness.stats import pct

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/exchange_bench_ws"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
STREAMS = "btcusdt@trade/btcusdt@depth@100ms"


@dataclass
class Tally:
    messages: int = 0
    trades: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    closed: int = 0
    measuring: bool = False
    errors: dict[str, int] = field(default_factory=dict)
    held: int = 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argument_parser(
        "python -m bench.ws",
        "WebSocket fan-out benchmark: N clients on trade+depth while orders trade.",
        database_url=DEFAULT_DATABASE_URL,
        redis_url=DEFAULT_REDIS_URL,
    )
    p.add_argument("--clients", type=int, default=500, help="WebSocket connections")
    p.add_argument("--rate", type=float, default=40.0, help="orders/s offered (half cross)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured phase")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured load first")
    p.add_argument("--traders", type=int, default=10)
    p.add_argument("--client-procs", type=int, default=4, help="processes sharing the clients")
    p.add_argument("--log-dir", default="")
    p.add_argument(
        "--synthetic", action="store_true",
        help="publish trade messages straight to the market's channel instead of trading"
        " (the fan-out alone: no REST, matcher or PostgreSQL in the path)",
    )  # fmt: skip
    return p.parse_args(argv)


async def _client(url: str, tally: Tally, held: list[int]) -> None:
    import websockets

    try:
        async with websockets.connect(url, max_queue=None, ping_interval=None) as ws:
            held[0] += 1
            async for raw in ws:
                now_ms = time.time() * 1000
                if not tally.measuring:
                    continue
                tally.messages += 1
                if b'"e":"trade"' in (raw if isinstance(raw, bytes) else raw.encode()):
                    data = orjson.loads(raw)["data"]
                    tally.trades += 1
                    tally.latencies_ms.append(now_ms - data["T"])
    except Exception as exc:
        tally.errors[type(exc).__name__ + ": " + str(exc)[:80]] = 1
    finally:
        tally.closed += 1
        held[0] -= 1


async def _clients(url: str, n: int, connected: Any, start: Any, stop: Any) -> Tally:
    """One client process: n sockets; counts between the start and stop events."""
    tally = Tally()
    held = [0]
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(_client(url, tally, held)))
        if i % 25 == 24:
            await asyncio.sleep(0.05)  # do not flood the accept queue
    reported = False
    while not stop.is_set():
        if not reported and held[0] == n:
            with connected.get_lock():
                connected.value += n
            reported = True
        tally.measuring = start.is_set()
        await asyncio.sleep(0.02)
    tally.measuring = False
    tally.held = held[0]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return tally


def _client_proc(url: str, n: int, connected: Any, start: Any, stop: Any, out: Any) -> None:
    tally = asyncio.run(_clients(url, n, connected, start, stop))
    out.put(tally)


async def _run(
    args: argparse.Namespace, port: int, order_port: int, traders: Sequence[object]
) -> Tally:
    import multiprocessing

    from bench.api.workload import MIX
    from bench.harness.rest_load import Load, open_loop

    ctx = multiprocessing.get_context("fork")
    connected, start, stop, out = ctx.Value("i", 0), ctx.Event(), ctx.Event(), ctx.Queue()
    url = f"ws://127.0.0.1:{port}/stream?streams={STREAMS}"
    shares = [args.clients // args.client_procs] * args.client_procs
    shares[0] += args.clients - sum(shares)
    children = [
        ctx.Process(target=_client_proc, args=(url, n, connected, start, stop, out)) for n in shares
    ]
    t0 = time.monotonic()
    for child in children:
        child.start()
    while connected.value < args.clients:
        if time.monotonic() - t0 > 60:
            stop.set()
            raise RuntimeError(f"only {connected.value} of {args.clients} clients connected")
        await asyncio.sleep(0.1)
    print(
        f"{args.clients} clients connected in {time.monotonic() - t0:.1f} s"
        f" ({args.client_procs} client processes)"
    )
    if args.synthetic:
        start.set()
        started = time.monotonic()
        sent = await _synthetic(args.rate, args.seconds)
        await asyncio.sleep(0.5)
        stop.set()
        elapsed = time.monotonic() - started
        print(f"synthetic trades published: {sent} ({sent / args.seconds:.1f}/s)")
    else:
        load = Load([order_port], traders, MIX, 7)  # type: ignore[arg-type]
        await load.open(32)
        await open_loop(load, args.rate, args.warmup, "ACK", "warm-up", 32)
        start.set()
        started = time.monotonic()
        res = await open_loop(load, args.rate, args.seconds, "ACK", "measured", 32)
        await asyncio.sleep(0.5)  # the last trades' frames
        stop.set()
        elapsed = time.monotonic() - started
        await load.close()
        print(
            f"orders: {res.ok} accepted of {res.sent} sent in {res.duration:.1f} s"
            f" ({res.ok / res.duration:.1f}/s); errors {dict(res.errors)}"
        )
    tally = Tally()
    held = 0
    for _ in children:
        part = await asyncio.to_thread(out.get, True, 60)
        tally.messages += part.messages
        tally.trades += part.trades
        tally.latencies_ms += part.latencies_ms
        tally.closed += part.closed
        tally.errors |= part.errors
        held += part.held
    for child in children:
        child.join(10)
    print(f"clients held at the end: {held} of {args.clients} (errors: {tally.errors})")
    lat = sorted(tally.latencies_ms)
    print(
        f"messages received: {tally.messages} in {elapsed:.1f} s ="
        f" {tally.messages / elapsed:,.0f}/s ({tally.trades} trade events)"
    )
    print(
        f"commit -> receipt (trade events, every client): p50 {pct(lat, 0.5):.1f} ms,"
        f" p90 {pct(lat, 0.9):.1f} ms, p99 {pct(lat, 0.99):.1f} ms,"
        f" max {lat[-1] if lat else float('nan'):.1f} ms"
        " (T has ms resolution: figures may read up to 1 ms high)"
    )
    _server_histogram(port)
    return tally


async def _synthetic(rate: float, seconds: float) -> int:
    """Trade messages in the matcher's format, published at `rate` per second."""
    from exchange_site.redis import get_redis
    from marketdata.feedbus import market_channel

    client = get_redis()
    channel = market_channel("BTCUSDT")
    n = int(rate * seconds)
    t0 = time.monotonic()
    for k in range(n):
        await asyncio.sleep(max(0.0, t0 + k / rate - time.monotonic()))
        now = time.time()
        trade = [1_000_000 + k, 5_000_000, 100, k % 2 == 0]
        message = {"c": now, "T": int(now * 1000), "t": [trade]}
        await asyncio.to_thread(client.publish, channel, orjson.dumps(message))
    return n


def _server_histogram(port: int) -> None:
    """The web process's own commit-to-send histogram (exchange_ws_commit_to_send_seconds):
    from the matcher's commit to the frame leaving the hub, before the client's share."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith("exchange_ws_commit_to_send_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    total = buckets[-1][1] if buckets else 0
    if not total:
        return

    def upper(q: float) -> str:
        bound = next(le for le, n in buckets if n >= q * total)
        return f"<= {bound * 1000:g} ms"

    print(
        f"server side, commit -> frame handed to daphne ({total:.0f} frames): p50 {upper(0.5)},"
        f" p99 {upper(0.99)} (histogram buckets)"
    )


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    bench_environ(
        database_url=args.database_url, redis_url=args.redis_url,
        MAX_OPEN_ORDERS_PER_MARKET="1000000",
    )  # fmt: skip
    database_create(args.database_url)
    import django

    django.setup()
    from bench.api.workload import MIX, market_and_traders
    from bench.harness.database import database_reset

    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="bench_ws-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    database_reset()
    _, traders = market_and_traders(args.traders)
    port, order_port = free_port(), free_port()
    env = os.environ
    procs = [
        Proc("web", web_argv(port), env, log_dir),
        # Orders go through a second web process: the figure is the fan-out's, not REST's.
        Proc("web-orders", web_argv(order_port), env, log_dir),
        Proc("matcher", matcher_argv([MIX.symbol]), env, log_dir),
        Proc("worker", worker_argv("bench-ws"), env, log_dir),
        Proc("beat", beat_argv(log_dir), env, log_dir),
    ]
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for proc in procs:
            proc.start()
        wait_web([port, order_port], procs)
        print(
            f"stack: daphne :{port} (sockets), daphne :{order_port} (orders), matcher, worker,"
            f" beat; {args.clients} clients on"
            f" {STREAMS}; orders at {args.rate:g}/s; logs in {log_dir}"
        )
        asyncio.run(_run(args, port, order_port, traders))
        dead = [p.name for p in procs if not p.alive()]
        if dead:
            print(f"process(es) died: {dead}")
    finally:
        for proc in reversed(procs):
            proc.stop()
        signal.signal(signal.SIGTERM, previous)
    problems = money_check()
    print(f"ledger_check_invariants(): {problems}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
