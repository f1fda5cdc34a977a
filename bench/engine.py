"""Engine benchmark (``make bench-engine``): ``python -m bench.engine [--commands N] [--seed S]
[--repeat R]``.

The standard random stream (bench.streams, docs/architecture.md targets) is generated up front, then
replayed on fresh books: ``--repeat`` times untimed per command for throughput
(``take_depth_changes`` every 100 commands, as the matcher does per batch; wall clock and
process CPU time) and once with ``perf_counter_ns`` around every ``apply`` for the latency
percentiles. Python's default GC settings; the command list itself is ``gc.freeze()``-d.
The engine alone: no Django, no I/O.

Prints figures only; the last line is exactly ``commands/s: N`` (median wall-clock pass).
"""

from __future__ import annotations

import argparse
import gc
import os
import time

from bench.harness.stats import pct
from bench.streams import build_stream
from matching.engine import ENGINE_IMPL, CancelOrder, OrderBook
from matching.engine.commands import Command

BATCH = 100  # commands per simulated matcher batch (one take_depth_changes each)


def run_throughput(cmds: list[Command]) -> tuple[int, int, int]:
    """Apply all commands on a fresh book; return (wall ns, process CPU ns, events emitted)."""
    gc.collect()  # a dropped book is cyclic garbage (linked levels): not this pass's cost
    book = OrderBook()
    apply = book.apply
    take = book.take_depth_changes
    n_events = 0
    c0 = time.process_time_ns()
    t0 = time.perf_counter_ns()
    for start in range(0, len(cmds), BATCH):
        for cmd in cmds[start : start + BATCH]:
            n_events += len(apply(cmd))
        take()
    return time.perf_counter_ns() - t0, time.process_time_ns() - c0, n_events


def run_latency(cmds: list[Command]) -> list[int]:
    """Per-command latency in ns (``apply`` only), sorted."""
    gc.collect()  # as in run_throughput
    book = OrderBook()
    apply = book.apply
    clock = time.perf_counter_ns
    lat = [0] * len(cmds)
    for i, cmd in enumerate(cmds):
        t0 = clock()
        apply(cmd)
        lat[i] = clock() - t0
    lat.sort()
    return lat


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commands", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--repeat", type=int, default=3, help="throughput passes (median shown)")
    parser.add_argument(
        "--peer", action="store_true",
        help="also replay the stream on matching-engine 0.1.1 (its own venv) and print the ratio",
    )  # fmt: skip
    args = parser.parse_args()

    cmds = build_stream(args.commands, args.seed)
    n = len(cmds)
    n_cancel = sum(1 for c in cmds if type(c) is CancelOrder)
    # The command list is input, not engine state: keep it out of the cyclic GC's scans.
    gc.collect()
    gc.freeze()

    runs = sorted(run_throughput(cmds) for _ in range(max(1, args.repeat)))
    wall, _, n_events = runs[len(runs) // 2]
    cpu = min(r[1] for r in runs)
    lat = run_latency(cmds)

    def us(q: float) -> float:
        return pct(lat, q) / 1000  # ns -> us

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"engine: {ENGINE_IMPL} (matching.engine.ENGINE_IMPL)")
    print(f"stream: {n} commands ({n - n_cancel} limit, {n_cancel} cancel), seed {args.seed}")
    print(f"events per pass: {n_events}; load average at start of report: {load:.2f}")
    passes = ", ".join(f"{n * 1_000_000_000 // r[0]:,}" for r in runs)
    print(f"wall-clock commands/s per pass (sorted by time): {passes}")
    print(f"cpu-time commands/s (best pass, process CPU): {n * 1_000_000_000 // cpu:,}")
    print(
        f"latency per command (us): p50 {us(0.50):.2f}  p99 {us(0.99):.2f}  "
        f"p99.9 {us(0.999):.2f}  max {lat[-1] / 1000:.1f}"
    )
    if args.peer:
        from bench.engine_peer import peer_compare

        peer_compare(cmds, runs, repeat=max(1, args.repeat))
    print(f"commands/s: {n * 1_000_000_000 // wall}")


if __name__ == "__main__":
    main()
