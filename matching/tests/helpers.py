"""Test helper: run an in-process matcher until its streams are empty."""

from __future__ import annotations

from matching.worker import Matcher


def matcher_drain(m: Matcher, *, max_batches: int = 1000) -> None:
    """Apply every command in the matcher's streams (pending ones included), then return."""
    for _ in range(max_batches):
        idle = all(c.read_id == ">" for c in m.markets.values())
        if m.run_once() == 0 and idle and m.run_once() == 0:
            return
    raise AssertionError(f"the streams did not drain in {max_batches} batches")
