"""Fault tests of the order path with real processes, PostgreSQL and Redis (issue: order path).

Each ends with the ledger invariants and a full accounting of every order.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.db import connection
from pytest_django import Settings

from accounts.models import User
from bench.harness.procs import wait_for
from clearing.settlement import market_settle
from clearing.tests.helpers import (
    assert_balances_match_trades,
    assert_ledger_invariants,
    assert_orders_accounted,
)
from matching.engine import CancelReplace, OrderBook, PlaceOrder, TradeExecuted
from matching.stream import command_decode, stream_key
from orders.models import OPEN_STATUSES, Market, Order, Trade
from orders.tasks import stream_sweep
from tests.burst import burst
from tests.procs import beat_proc, matcher_proc, worker_proc

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOL = "BTCUSDT"


def _traders(
    funded: Callable[..., User], n: int
) -> tuple[list[User], dict[tuple[int, int], Decimal]]:
    users: list[User] = []
    credits: dict[tuple[int, int], Decimal] = {}
    for _ in range(n):
        user = funded(usdt="1000000", btc="100")
        users.append(user)
    from orders.models import Market

    market = Market.objects.get(symbol=SYMBOL)
    for user in users:
        credits[(user.id, market.quote_id)] = Decimal("1000000")
        credits[(user.id, market.base_id)] = Decimal("100")
    return users, credits


def _all_applied() -> bool:
    connection.close()  # see the other processes' commits with a fresh snapshot
    return not Order.objects.filter(status=Order.Status.PENDING_NEW).exists() and not (
        Order.objects.filter(status__in=OPEN_STATUSES, cancel_requested_at__isnull=False).exists()
    )


def _replay_trades(redis_client: redis.Redis) -> list[tuple[int, int, int, int, int]]:
    """Replay the stream through a fresh engine, as one uninterrupted matcher would have."""
    book = OrderBook()
    seen: set[int] = set()
    trades: list[tuple[int, int, int, int, int]] = []
    entries = redis_client.xrange(stream_key(SYMBOL))
    assert entries is not None
    for _id, fields in entries:
        assert fields is not None
        cmd, _rid = command_decode(fields[b"c"])
        place = cmd.place if isinstance(cmd, CancelReplace) else cmd
        if isinstance(place, PlaceOrder):
            if place.order_id in seen:
                continue
            seen.add(place.order_id)
        for ev in book.apply(cmd):
            if isinstance(ev, TradeExecuted):
                trades.append(
                    (ev.seq, ev.maker_order_id, ev.taker_order_id, ev.price_ticks, ev.qty_lots)
                )
    return trades


def test_matcher_sigkilled_during_burst_loses_nothing_and_applies_nothing_twice(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis, tmp_path: Path
) -> None:
    users, credits = _traders(funded, 6)
    matcher = matcher_proc([SYMBOL], tmp_path).start()
    stop = threading.Event()
    kills: list[float] = []

    def killer() -> None:
        rng = random.Random(3)
        while not stop.wait(rng.uniform(0.4, 0.9)):
            matcher.kill()
            kills.append(time.monotonic())
            matcher.start()

    k = threading.Thread(target=killer)
    k.start()
    try:
        outcomes = burst(users, SYMBOL, 2400, threads=4)
    finally:
        stop.set()
        k.join()
    assert len(kills) >= 2, f"the matcher was killed only {len(kills)} times"
    assert outcomes["place"] > 1000 and outcomes["cancel"] > 100, outcomes
    wait_for(_all_applied, 45, "every order applied", [matcher])
    matcher.stop()
    market_settle(market_id=market.id)

    db_trades = sorted(
        (
            t.seq,
            t.maker_order_id,
            t.taker_order_id,
            int(t.price / market.tick_size),
            int(t.qty / market.step_size),
        )
        for t in Trade.objects.all()
    )
    assert db_trades, "the burst produced no trade"
    assert db_trades == _replay_trades(redis_client)
    assert_orders_accounted()
    assert_balances_match_trades(credits)
    assert_ledger_invariants()


def test_celery_worker_sigkilled_mid_settlement_settles_everything_once(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis, tmp_path: Path
) -> None:
    users, credits = _traders(funded, 6)
    env = {"SETTLE_SWEEP_AGE_S": "0.5"}
    procs = [
        matcher_proc([SYMBOL], tmp_path).start(),
        worker_proc(tmp_path, **env).start(),
        beat_proc(tmp_path, **env).start(),
    ]
    worker = procs[1]
    try:
        burst_done = threading.Event()

        def run_burst() -> None:
            burst(users, SYMBOL, 1600, threads=4, cancel_ratio=0.1)
            burst_done.set()

        t = threading.Thread(target=run_burst)
        t.start()

        def some_settled() -> bool:
            connection.close()
            return Trade.objects.filter(settled_at__isnull=False).exists()

        wait_for(some_settled, 30, "settlement to start", procs)
        worker.kill()  # SIGKILL the worker and its pool children, mid-run
        t.join()
        assert burst_done.is_set()
        worker = procs[1] = worker_proc(tmp_path, name="worker2", **env).start()

        def all_settled() -> bool:
            if not _all_applied():
                return False
            try:
                assert_orders_accounted()
            except AssertionError:
                return False
            return True

        wait_for(all_settled, 45, "everything settled after the restart", procs)
    finally:
        for p in procs:
            p.stop()
    assert Trade.objects.count() > 50
    assert_balances_match_trades(credits)
    assert_ledger_invariants()


def test_streams_deleted_mid_run_the_sweep_finishes_the_work(
    market: Market,
    funded: Callable[..., User],
    redis_client: redis.Redis,
    tmp_path: Path,
    settings: Settings,
) -> None:
    settings.STREAM_SWEEP_AGE_S = 0
    users, credits = _traders(funded, 6)
    matcher = matcher_proc([SYMBOL], tmp_path).start()
    try:
        deleted: list[int] = []

        def deleter() -> None:
            for _ in range(3):
                time.sleep(0.5)
                redis_client.delete(stream_key(SYMBOL))
                deleted.append(1)

        d = threading.Thread(target=deleter)
        d.start()
        outcomes = burst(users, SYMBOL, 1600, threads=4)
        d.join()
        assert len(deleted) == 3 and outcomes["place"] > 500

        def swept() -> bool:
            if _all_applied():
                return True
            stream_sweep()
            time.sleep(0.3)
            return False

        wait_for(swept, 45, "the sweep to finish the work", [matcher])
    finally:
        matcher.stop()
    market_settle(market_id=market.id)
    assert_orders_accounted()
    assert_balances_match_trades(credits)
    assert_ledger_invariants()
