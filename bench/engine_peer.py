"""`python -m bench.engine --peer` (`make bench-engine`): the stream on matching-engine 0.1.1.

The peer needs Python 3.12: scripts/peer_venv.sh makes `.venv-peer/` (git-ignored) and
scripts/engine_peer.py drives the peer's MatchingEngine there, on fresh engines as our passes
are. The ratio is ours / peer, by median wall-clock pass and by best process-CPU pass (the CPU
figure stays honest when other processes share the machine).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from matching.engine import CancelOrder, OrderBook, PlaceOrder, Side, TradeExecuted
from matching.engine.commands import Command

ROOT = Path(__file__).resolve().parents[1]


def peer_compare(cmds: list[Command], ours: list[tuple[int, int, int]], *, repeat: int) -> None:
    """Print the peer's figures and ours / peer; `ours` are our (wall, cpu, events) passes."""
    python = subprocess.run(
        ["bash", str(ROOT / "scripts" / "peer_venv.sh")],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for c in cmds:
            if type(c) is PlaceOrder:
                side = 1 if c.side == Side.BUY else 2
                f.write(json.dumps(["P", c.order_id, c.owner_id, side, c.price_ticks, c.qty_lots]))
            else:
                assert type(c) is CancelOrder
                f.write(json.dumps(["C", c.order_id, c.owner_id]))
            f.write("\n")
        path = f.name
    try:
        out = subprocess.run(
            [python, str(ROOT / "scripts" / "engine_peer.py"), path, str(repeat)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(path).unlink()
    peer = json.loads(out.strip().splitlines()[-1])
    n = len(cmds)
    p_wall = sorted(peer["wall_ns"])[len(peer["wall_ns"]) // 2]
    p_cpu = min(peer["cpu_ns"])
    o_wall = sorted(r[0] for r in ours)[len(ours) // 2]
    o_cpu = min(r[1] for r in ours)
    book = OrderBook()  # untimed: the trades must be the same on both books
    ours_trades = sum(1 for c in cmds for e in book.apply(c) if type(e) is TradeExecuted)
    same = "the same" if ours_trades == peer["trades"] else "DIFFERENT"
    print(f"peer: matching-engine 0.1.1 ({python})")
    print(f"trades per pass: ours {ours_trades:,}, peer {peer['trades']:,} ({same})")
    print(f"peer commands/s: wall {n * 10**9 // p_wall:,}, cpu-time {n * 10**9 // p_cpu:,}")
    print(
        f"ratio ours / peer: wall {p_wall / o_wall:.2f}x, cpu-time {p_cpu / o_cpu:.2f}x"
        " (target >= 1.5x)"
    )
