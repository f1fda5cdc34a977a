"""Failures found by review and fault injection (issue 13, items 1-4), each reproduced.

Real PostgreSQL and Redis; a second PostgreSQL connection plays the operator's psql session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
import redis
from django.db import connection
from pytest_django import Settings

from accounts.models import User
from clearing.settlement import market_settle
from clearing.tests.helpers import assert_ledger_invariants, assert_orders_accounted
from marketdata.depthstore import depth_read, last_price_read
from matching.engine import MarketState
from matching.models import MarketEngineState
from matching.stream import command_resend
from matching.tests.helpers import matcher_drain as drain
from matching.worker import Deposed, Matcher
from orders.models import Market, Order, Trade
from orders.services import market_set_status, order_amend_keep_priority, order_place
from orders.tasks import stream_sweep

D = Decimal
KEY = "stream:orders:BTCUSDT"


def place(user: User, side: str, price: str, qty: str) -> Order:
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force="GTC",
        price=D(price), quantity=D(qty),
    ).order  # fmt: skip


def _psql() -> psycopg.Connection[tuple[object, ...]]:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"],
        password=db["PASSWORD"] or None,
    )  # fmt: skip


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_takeover_waits_for_the_deposed_primarys_batch_in_flight(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """Issue 13.1: psql holds the engine-state row FOR UPDATE longer than the lease while the
    primary commits a fill; the standby takes over; psql lets go. The new primary must not
    trade on a book without that fill (the maker would be filled twice)."""
    alice = funded(usdt="10000", btc="1")
    bob = funded(usdt="10000", btc="1")
    carol = funded(usdt="10000", btc="1")
    old = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=300)
    old.setup()
    maker = place(alice, "SELL", "100", "0.1")
    drain(old)
    place(bob, "BUY", "100", "0.1")  # fills the maker, once old commits

    psql = _psql()
    psql.execute("SELECT * FROM matching_marketenginestate FOR UPDATE")
    errors: list[BaseException] = []

    def old_batch() -> None:
        try:
            old.run_once()  # reads bob's order, then waits on the row lock to commit
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    t = threading.Thread(target=old_batch)
    t.start()
    probe = _psql()
    probe.autocommit = True

    def old_waits_on_the_lock() -> bool:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        ).fetchone()
        return bool(row and row[0])

    _wait(old_waits_on_the_lock, 10, "the primary's commit to wait on psql's lock")
    time.sleep(0.4)  # longer than the lease: it expires while the primary is stuck
    release = threading.Timer(1.0, psql.commit)
    release.start()
    new = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=300)
    new.setup()  # takes over the expired lease
    t.join(10)
    release.join()
    psql.close()
    probe.close()
    assert not errors, errors

    # A non-crossing order first, so a stale book's trade would not reuse the fill's seq (the
    # unique (market, seq) would then catch it) but land as a second fill of the maker.
    place(carol, "BUY", "90", "0.1")
    place(carol, "BUY", "100", "0.1")  # must rest: the maker is gone
    drain(new)
    maker.refresh_from_db()
    assert maker.status == "FILLED" and maker.executed_qty == D("0.1")
    assert Trade.objects.count() == 1
    new._release_lease()
    market_settle(market_id=market.id)
    assert_orders_accounted()
    assert_ledger_invariants()


def test_a_deposed_matcher_cannot_take_entries_out_of_order(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """Issue 13.1: with one consumer name for both, an entry the deposed matcher read stayed
    pending; the new primary committed later entries first and then acked it unapplied."""
    alice = funded(usdt="10000", btc="1")
    old = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=60000)
    old.setup()
    redis_client.delete("matcher:lease:0")  # the old primary stalls; its lease runs out
    new = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=60000)
    new.setup()
    assert new.consumer != old.consumer
    second = place(alice, "BUY", "100", "0.1")
    redis_client.set("matcher:lease:0", old.token)  # the stalled one wakes up holding it
    with pytest.raises(Deposed):
        old.run_once()
    redis_client.set("matcher:lease:0", new.token)
    third = place(alice, "BUY", "101", "0.1")
    new.pending_rescan_s = 0
    drain(new)
    assert Order.objects.get(pk=second.pk).status == Order.objects.get(pk=third.pk).status == "NEW"
    assert not Order.objects.filter(status="PENDING_NEW").exists()
    state = MarketEngineState.objects.get(market=market)
    assert state.fence == new.fence
    assert_ledger_invariants()


def test_the_matcher_survives_its_stream_deleted_while_it_waits(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """Issue 13.2: Redis answers a blocked XREADGROUP with `UNBLOCKED the stream key no longer
    exists` when the stream is deleted; the matcher died of it."""
    alice = funded(usdt="10000", btc="1")
    m = Matcher(symbols=["BTCUSDT"], block_ms=1500, lease_ttl_ms=5000)
    m.setup()
    drain(m)
    errors: list[BaseException] = []
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                m.run_once()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    t = threading.Thread(target=loop)
    t.start()
    time.sleep(0.5)  # the matcher is waiting for entries
    redis_client.delete(KEY)
    time.sleep(0.2)
    order = place(alice, "BUY", "100", "0.1")

    def applied() -> bool:
        connection.close()
        return Order.objects.get(pk=order.pk).status == "NEW" or bool(errors)

    _wait(applied, 15, "the order placed after the deletion to be applied")
    stop.set()
    t.join(10)
    assert not errors, errors
    m._release_lease()
    assert_ledger_invariants()


def test_ids_of_a_new_stream_are_never_compared_with_the_old_ones(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """Issue 13.3: after a Redis loss the stored last_stream_id was compared with the ids of a
    new stream, so a Redis clock behind the stored id (or the same millisecond) skipped
    commands. Here the old stream's ids were ahead of the new Redis clock."""
    alice = funded(usdt="10000", btc="1")
    first = Matcher(symbols=["BTCUSDT"], block_ms=5)
    first.setup()
    place(alice, "BUY", "100", "0.1")
    drain(first)
    first._release_lease()
    MarketEngineState.objects.filter(market=market).update(last_stream_id="99999999999999-7")
    redis_client.flushdb()  # Redis restarted without persistence
    order = place(alice, "BUY", "99", "0.1")
    second = Matcher(symbols=["BTCUSDT"], block_ms=5)
    second.setup()
    drain(second)
    order.refresh_from_db()
    assert order.status == "NEW"
    state = MarketEngineState.objects.get(market=market)
    assert state.last_stream_id != "99999999999999-7"  # the new epoch's id is stored
    second._release_lease()
    assert_ledger_invariants()


def test_the_published_book_and_last_price_are_rebuilt_after_a_redis_flush(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """Issue 13.3: the depth store and last price were not rebuilt, so the price band was off
    and MARKET holds were sized from an empty book."""
    alice = funded(usdt="10000", btc="2")
    bob = funded(usdt="10000", btc="1")
    m = Matcher(symbols=["BTCUSDT"], block_ms=5)
    m.setup()
    place(alice, "SELL", "101", "0.3")
    place(alice, "SELL", "102", "0.2")
    place(bob, "BUY", "100", "0.4")
    place(bob, "BUY", "101", "0.1")  # trades at 101
    drain(m)
    before = depth_read(redis_client, symbol="BTCUSDT", limit=10)
    assert before.bids and before.asks
    redis_client.flushdb()
    m.pending_rescan_s = 0
    drain(m)
    after = depth_read(redis_client, symbol="BTCUSDT", limit=10)
    assert (after.bids, after.asks) == (before.bids, before.asks)
    assert after.update_id >= before.update_id
    assert last_price_read(redis_client, symbol="BTCUSDT") == int(D("101") / market.tick_size)
    m._release_lease()


def test_amends_market_states_and_cancel_all_are_recovered_after_a_redis_loss(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis, settings: Settings
) -> None:
    """Issue 13.3: only places and cancels could be re-created by the sweep."""
    settings.STREAM_SWEEP_AGE_S = 0
    alice = funded(usdt="10000", btc="2")
    m = Matcher(symbols=["BTCUSDT"], block_ms=5)
    m.setup()
    resting = place(alice, "SELL", "101", "1")
    other = place(alice, "SELL", "105", "1")
    drain(m)
    order_amend_keep_priority(
        user_id=alice.id, symbol="BTCUSDT", order_id=resting.id, new_qty=D("0.4")
    )
    redis_client.delete(KEY)  # lost before the matcher read it
    drain(m)
    resting.refresh_from_db()
    assert resting.status == "NEW" and resting.quantity == D("1")  # nothing arrived
    assert stream_sweep() >= 1
    drain(m)
    resting.refresh_from_db()
    assert resting.quantity == D("0.4")  # the amend, re-sent from PostgreSQL
    market_set_status(market_id=market.id, status="HALT", cancel_all=True)
    redis_client.delete(KEY)  # lost too
    drain(m)
    stream_sweep()
    drain(m)
    resting.refresh_from_db()
    other.refresh_from_db()
    assert resting.status in ("EXPIRED", "CANCELED") and other.status in ("EXPIRED", "CANCELED")
    assert m.markets[KEY].book.export().state == MarketState.HALT
    # A repeat of an applied request (a second sweep, a redelivery) changes nothing.
    market_set_status(market_id=market.id, status="TRADING")
    drain(m)
    halted = _requests(market, "S", 3)
    assert len(halted) == 1
    command_resend(redis_client, "BTCUSDT", *halted[0])
    drain(m)
    assert m.markets[KEY].book.export().state == MarketState.TRADING
    m._release_lease()
    market_settle(market_id=market.id)
    assert_orders_accounted()
    assert_ledger_invariants()


def _requests(market: Market, op: str, arg: int) -> list[tuple[str, str]]:
    from matching.models import EngineRequest

    return [
        (body, rid)
        for body, rid in EngineRequest.objects.filter(market=market).values_list("body", "rid")
        if body.endswith(f'"{op}",{arg}]')
    ]


def test_the_sweep_resends_once_per_stream_epoch_then_backs_off(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis, settings: Settings
) -> None:
    """Issue 13.4: every pending order was re-sent on every sweep, so the stream grew without
    bound while the matcher was down."""
    settings.STREAM_SWEEP_AGE_S = 0
    settings.STREAM_SWEEP_BACKOFF_S = 0.5
    alice = funded(usdt="10000", btc="1")
    place(alice, "BUY", "100", "0.1")
    place(alice, "BUY", "99", "0.1")
    redis_client.delete(KEY)  # no matcher runs
    assert stream_sweep() == 2
    assert stream_sweep() == 0
    assert stream_sweep() == 0
    assert redis_client.xlen(KEY) == 2
    time.sleep(0.6)  # the back-off passed: one more try, then twice as long
    assert stream_sweep() == 2
    assert stream_sweep() == 0
    assert redis_client.xlen(KEY) == 4
    redis_client.flushdb()  # a new stream: re-sent at once
    assert stream_sweep() == 2


def test_the_matcher_trims_what_it_has_applied(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """Issue 13.4: nothing trimmed the streams."""
    alice = funded(usdt="10000", btc="1")
    m = Matcher(symbols=["BTCUSDT"], block_ms=5, stream_retain_s=0)
    m.setup()
    for price in ("100", "99", "98"):
        place(alice, "BUY", price, "0.1")
    drain(m)
    m.streams_trim()
    ids = [eid.decode() for eid, _ in redis_client.xrange(KEY) or [] if isinstance(eid, bytes)]
    # The last applied entry only (MINID keeps the committed id).
    assert ids == [MarketEngineState.objects.get(market=market).last_stream_id]
    place(alice, "BUY", "97", "0.1")  # not applied yet: kept
    m.streams_trim()
    assert redis_client.xlen(KEY) == 2
    drain(m)
    m._release_lease()
