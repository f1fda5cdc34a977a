"""Latency percentiles, as every benchmark reports them (pure Python: the engine benchmark
imports this without Django)."""

from __future__ import annotations

from collections.abc import Sequence


def pct(sorted_values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of already sorted values: the value at rank floor(q * n),
    NaN when there are none."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
