"""Engine benchmark: ``python -m matching.engine.bench [--commands N] [--seed S]``.

The standard random stream (DESIGN.md targets): ~70% LIMIT GTC orders, about a fifth of them
priced through the opposite touch (takers), ~30% cancels of orders that are resting at that
point; sizes skewed small (1 + geometric), passive prices clustered within a few ticks of the
touch. 1,000 owners, no STP. The stream is generated up front against a scratch book (so cancels
target live orders), then replayed on fresh books: ``--repeat`` times untimed per command for
throughput (``take_depth_changes`` every 100 commands, as the matcher does per batch; wall clock
and process CPU time) and once with ``perf_counter_ns`` around every ``apply`` for the latency
percentiles. Python's default GC settings; the command list itself is ``gc.freeze()``-d.

Prints figures only; the last line is exactly ``commands/s: N`` (median wall-clock pass).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time

from matching.engine import CancelOrder, OrderBook, OrderDone, OrderType, PlaceOrder, Side
from matching.engine.commands import Command
from matching.engine.types import TimeInForce

MID_TICKS = 100_000  # reference price for an empty side
BATCH = 100  # commands per simulated matcher batch (one take_depth_changes each)


def build_stream(n: int, seed: int) -> list[Command]:
    """Generate ``n`` commands; cancels name orders resting at that point of the stream."""
    rng = random.Random(seed)
    book = OrderBook()
    live: list[int] = []  # resting order ids, swap-remove via pos
    pos: dict[int, int] = {}
    cmds: list[Command] = []
    next_id = 1
    buy, sell = Side.BUY, Side.SELL
    limit, gtc = OrderType.LIMIT, TimeInForce.GTC

    def drop(oid: int) -> None:
        i = pos.pop(oid, None)
        if i is None:
            return
        last = live.pop()
        if last != oid:
            live[i] = last
            pos[last] = i

    while len(cmds) < n:
        cmd: Command
        if live and rng.random() < 0.30:
            oid = live[rng.randrange(len(live))]
            owner = book.order(oid)
            assert owner is not None  # live ids are resting by construction
            cmd = CancelOrder(oid, owner.owner_id)
        else:
            is_buy = rng.random() < 0.5
            best_bid, best_ask = book.depth(1)
            bid = best_bid[0][0] if best_bid else 0
            ask = best_ask[0][0] if best_ask else 0
            qty = 1 + min(int(rng.expovariate(0.5)), 60)  # lots; mean ~2.5, long thin tail
            k = min(int(rng.expovariate(0.35)), 40)  # ticks away from the touch
            if rng.random() < 0.2 and (ask if is_buy else bid):
                # Taker: through the opposite touch by 0..2 ticks.
                price = ask + rng.randrange(3) if is_buy else bid - rng.randrange(3)
            elif is_buy:
                price = (bid if bid else (ask - 1 if ask else MID_TICKS)) - k
                if ask and price >= ask:
                    price = ask - 1
            else:
                price = (ask if ask else (bid + 1 if bid else MID_TICKS + 1)) + k
                if bid and price <= bid:
                    price = bid + 1
            cmd = PlaceOrder(
                next_id, rng.randrange(1000), buy if is_buy else sell, limit, gtc, price, qty
            )
            next_id += 1
        events = book.apply(cmd)
        for ev in events:
            if type(ev) is OrderDone:
                drop(ev.order_id)
        if type(cmd) is PlaceOrder and book.order(cmd.order_id) is not None:
            pos[cmd.order_id] = len(live)
            live.append(cmd.order_id)
        cmds.append(cmd)
    return cmds


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

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000  # ns -> us

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"stream: {n} commands ({n - n_cancel} limit, {n_cancel} cancel), seed {args.seed}")
    print(f"events per pass: {n_events}; load average at start of report: {load:.2f}")
    passes = ", ".join(f"{n * 1_000_000_000 // r[0]:,}" for r in runs)
    print(f"wall-clock commands/s per pass (sorted by time): {passes}")
    print(f"cpu-time commands/s (best pass, process CPU): {n * 1_000_000_000 // cpu:,}")
    print(
        f"latency per command (us): p50 {pct(0.50):.2f}  p99 {pct(0.99):.2f}  "
        f"p99.9 {pct(0.999):.2f}  max {lat[-1] / 1000:.1f}"
    )
    print(f"commands/s: {n * 1_000_000_000 // wall}")


if __name__ == "__main__":
    main()
