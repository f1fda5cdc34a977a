"""Settlement during the matcher benchmark: waiting for it, its lag figures, and the internal
``--settle loop`` mode (a subprocess looping a settle function instead of a Celery worker).
Import after django.setup()."""

from __future__ import annotations

import importlib
import signal
import time
from typing import Any

from django.db import connection

from clearing.settlement import unsettled_markets


def wait_settled(timeout: float) -> bool:
    """Every trade settled and every finished order's hold released, within `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not unsettled_markets(older_than_s=0):
            return True
        time.sleep(0.1)
    return False


def settlement_stats(market_id: int) -> dict[str, Any]:
    """Trades, settled trades, lag percentiles (s) and spans, read now (the deadline)."""
    with connection.cursor() as cur:
        cur.execute(
            # An unsettled trade counts with its age so far: the percentiles are then lower
            # bounds, never flattered by leaving the slowest trades out.
            "WITH t AS (SELECT created_at, settled_at,"
            "  extract(epoch FROM coalesce(settled_at, clock_timestamp()) - created_at) AS lag"
            "  FROM orders_trade WHERE market_id = %s)"
            " SELECT count(*), count(settled_at),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), max(lag),"
            # settled per second: from the first trade to the last settlement, or to now
            # (the deadline) when some are left
            " extract(epoch FROM CASE WHEN count(*) > count(settled_at) THEN clock_timestamp()"
            "   ELSE max(settled_at) END - min(created_at)),"
            " extract(epoch FROM max(created_at) - min(created_at))"
            " FROM t",
            [market_id],
        )  # fmt: skip
        total, settled, p50, p99, mx, span, produced_span = cur.fetchone()
        cur.execute("SELECT count(*) FROM clearing_ledgertransaction WHERE kind = 'order_release'")
        (releases,) = cur.fetchone()
    return {
        "releases": releases,
        "trades": total, "settled": settled, "p50": p50, "p99": p99, "max": mx,
        "span": float(span or 0), "produced_span": float(produced_span or 0),
    }  # fmt: skip


def settle_loop(market_id: int, func: str) -> None:
    """Internal mode: settle the market with `func` (``MODULE:FUNC``) in a loop until SIGTERM."""
    module, _, name = func.partition(":")
    market_settle = getattr(importlib.import_module(module), name)

    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    while not stop:
        if market_settle(market_id=market_id) == 0:
            time.sleep(0.005)
    connection.close()
