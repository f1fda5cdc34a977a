"""The REST benchmark's workload: market BTCUSDT (tick 0.01, step 0.00001, min notional 5),
funded traders with one API key each on the ``unlimited`` rate-limit tier, the order mix of
the load client, and an in-process probe of orders.services.order_place (the floor of the
service behind the endpoint). Import after django.setup()."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis as redis_lib
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiKey
from accounts.services import api_key_issue, user_create
from bench.harness.rest_load import OrderMix, Trader
from clearing.services import balance_credit_external
from exchange_site.redis import get_redis
from matching.stream import stream_key
from orders.models import Market
from orders.services import market_create, order_place

MIX = OrderMix(
    symbol="BTCUSDT",
    tick=Decimal("0.01"),
    mid_ticks=5_000_000,  # 50,000.00
    cross_ticks=500,  # crossing orders are priced 5.00 through the mid
    qty="0.00100",  # notional ~50 USDT
)
STEP = Decimal("0.00001")
# The tables the load writes: ANALYZE after each warm-up, as autovacuum would.
HOT_TABLES = (
    "orders_order", "clearing_hold", "clearing_ledgeraccount", "clearing_ledgertransaction",
    "clearing_posting", "orders_trade",
)  # fmt: skip


def market_and_traders(n_traders: int) -> tuple[Market, list[Trader]]:
    market = market_create(
        base="BTC", quote="USDT", tick_size=MIX.tick, step_size=STEP, min_notional=Decimal("5"),
    )  # fmt: skip
    traders = []
    for i in range(n_traders):
        name = f"bench-api-{i:02d}"
        user = user_create(username=name, password=None)
        balance_credit_external(
            user_id=user.id, asset_id=market.quote_id, amount=Decimal(50_000_000), ref=f"{name}-q"
        )
        balance_credit_external(
            user_id=user.id, asset_id=market.base_id, amount=Decimal(1_000), ref=f"{name}-b"
        )
        key, secret = api_key_issue(user=user, permissions=["read", "trade"], label="bench")
        traders.append(Trader(name, user.id, key.key, secret.encode()))
    ApiKey.objects.filter(label="bench").update(tier=ApiKey.Tier.UNLIMITED)
    return market, traders


@dataclass
class Probe:
    sql: list[str]  # the statements of one order_place in steady state
    redis_round_trips: int
    n: int  # sequential calls timed
    wall_ms: float  # per call
    cpu_ms: float  # per call (thread CPU time)


def order_place_probe(trader: Trader, n: int = 200) -> Probe:
    """order_place, the service behind POST /api/v3/order, in this process before the stack
    starts: the SQL statements and synchronous Redis round trips of one call (the second: the
    first also creates the user's LOCKED account), then `n` sequential calls timed. Crossing
    IOC buys into an empty book: the matcher expires them when it starts."""

    def place() -> None:
        order_place(
            user_id=trader.user_id, symbol=MIX.symbol, side="BUY", type="LIMIT",
            time_in_force="IOC", quantity=Decimal(MIX.qty),
            price=MIX.tick * (MIX.mid_ticks + MIX.cross_ticks),
        )  # fmt: skip

    place()
    calls = {"n": 0}
    orig_cmd, orig_exec = redis_lib.Redis.execute_command, redis_lib.client.Pipeline.execute

    def count_cmd(self: Any, *a: Any, **kw: Any) -> Any:
        if not isinstance(self, redis_lib.client.Pipeline):
            calls["n"] += 1
        return orig_cmd(self, *a, **kw)  # type: ignore[no-untyped-call]

    def count_exec(self: Any, *a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        return orig_exec(self, *a, **kw)

    redis_lib.Redis.execute_command = count_cmd  # type: ignore[method-assign]
    redis_lib.client.Pipeline.execute = count_exec  # type: ignore[method-assign]
    try:
        with CaptureQueriesContext(connection) as ctx:
            place()
    finally:
        redis_lib.Redis.execute_command = orig_cmd  # type: ignore[method-assign]
        redis_lib.client.Pipeline.execute = orig_exec  # type: ignore[method-assign]
    for _ in range(10):
        place()
    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        place()
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    return Probe(
        [q["sql"] for q in ctx.captured_queries], calls["n"], n, wall / n * 1000, cpu / n * 1000
    )


def book_and_backlog() -> str:
    """Orders by status, trades not settled yet, and the command stream's length."""
    with connection.cursor() as cur:
        cur.execute("SELECT status, count(*) FROM orders_order GROUP BY status ORDER BY 2 DESC")
        by_status = ", ".join(f"{s} {n}" for s, n in cur.fetchall())
        cur.execute("SELECT count(*), count(*) FILTER (WHERE settled_at IS NULL) FROM orders_trade")
        trades, unsettled = cur.fetchone()
    stream_len = get_redis().xlen(stream_key(MIX.symbol))
    return (
        f"orders by status: {by_status}\ntrades: {trades} ({unsettled} not settled yet);"
        f" stream length {stream_len}"
    )
