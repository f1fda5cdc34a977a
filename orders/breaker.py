"""The circuit breaker's observer: trade prices per market over its window.

Where prices are observed: in the matcher, after each batch commit (it knows every trade price
the moment it is final, with no extra query); a Celery task reading trades would add latency and
load. When the price moves more than `Market.breaker_move_pct` percent within
`breaker_window_s` seconds, measured as (highest - lowest) / lowest over the trades of the
window, the observer calls orders.markets.market_breaker_trip, which moves the market to
CANCEL_ONLY through the stream for `breaker_cooldown_s`; the beat task orders.breaker_release
lifts it. The window lives in the matcher's memory: a restarted matcher starts a new one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class BreakerConfig:
    move_pct: Decimal = Decimal(0)  # 0: off
    window_s: int = 60


@dataclass(slots=True)
class BreakerWatch:
    """Per-market windows of (time in s, price in ticks)."""

    windows: dict[int, deque[tuple[float, int]]] = field(default_factory=dict)

    def observe(
        self, market_id: int, config: BreakerConfig, prices_ticks: Iterable[int], now: float
    ) -> dict[str, object] | None:
        """Add trade prices; return what was observed when the move exceeds the limit (then the
        window restarts), else None."""
        if not config.move_pct:
            self.windows.pop(market_id, None)
            return None
        window = self.windows.setdefault(market_id, deque())
        window.extend((now, p) for p in prices_ticks)
        cutoff = now - config.window_s
        while window and window[0][0] < cutoff:
            window.popleft()
        if not window:
            return None
        low = min(p for _, p in window)
        high = max(p for _, p in window)
        if low <= 0 or Decimal(high - low) * 100 <= config.move_pct * low:
            return None
        observed: dict[str, object] = {
            "low_ticks": low, "high_ticks": high, "window_s": config.window_s,
            "trades_in_window": len(window),
        }  # fmt: skip
        window.clear()
        return observed
