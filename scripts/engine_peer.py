"""Drive matching-engine 0.1.1's book on our benchmark stream (`make bench-engine`).

Runs under the peer's own interpreter (Python 3.12, `.venv-peer/`, see scripts/peer_venv.sh),
imports nothing of ours: reads the stream that bench/engine_peer.py wrote (JSON lines,
["P", order id, owner, side 1|2, price ticks, qty lots] or ["C", order id, owner]; LIMIT GTC
only, no self-trade prevention, as in our stream), replays it on fresh engines and prints one
JSON line: wall and process-CPU nanoseconds per pass, events and trades per pass.
"""

from __future__ import annotations

import gc
import json
import sys
import time

from matching_engine.domain import (  # type: ignore[import-not-found]
    CancelOrder,
    NewOrder,
    OrderType,
    SelfTradePrevention,
    SequencedCommand,
    Side,
    TimeInForce,
)
from matching_engine.engine import MatchingEngine  # type: ignore[import-not-found]
from matching_engine.events import Trade  # type: ignore[import-not-found]


def main() -> None:
    path, repeat = sys.argv[1], int(sys.argv[2])
    sides = {1: Side.BUY, 2: Side.SELL}
    cmds = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            row = json.loads(line)
            if row[0] == "P":
                cmd = NewOrder(
                    row[1], row[2], sides[row[3]], row[4], row[5], OrderType.LIMIT,
                    TimeInForce.GTC, False, SelfTradePrevention.NONE,
                )  # fmt: skip
            else:
                cmd = CancelOrder(row[1], row[2])
            cmds.append(SequencedCommand(i, i, cmd))
    gc.collect()
    gc.freeze()
    wall, cpu, events, trades = [], [], 0, 0
    for _ in range(repeat):
        gc.collect()
        engine = MatchingEngine()
        process = engine.process
        n_events = n_trades = 0
        c0 = time.process_time_ns()
        t0 = time.perf_counter_ns()
        for sc in cmds:
            evs = process(sc)
            n_events += len(evs)
        wall.append(time.perf_counter_ns() - t0)
        cpu.append(time.process_time_ns() - c0)
        events = n_events
        # Counted in an untimed pass: the trades must equal ours (same stream, same book).
    engine = MatchingEngine()
    for sc in cmds:
        n_trades += sum(1 for e in engine.process(sc) if type(e) is Trade)
    trades = n_trades
    print(json.dumps({"wall_ns": wall, "cpu_ns": cpu, "events": events, "trades": trades}))


if __name__ == "__main__":
    main()
