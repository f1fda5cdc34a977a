"""The engine benchmark runs and prints its figures (a smoke test, not a timed one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # .../bench/tests -> repo root


def test_bench_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.engine", "--commands", "3000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("commands/s: ") and int(lines[-1].split(": ")[1]) > 0
    assert any(line.startswith("latency per command (us): p50 ") for line in lines)
