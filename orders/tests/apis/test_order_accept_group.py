"""Group commit of acceptances (docs/order-path.md, "Acceptance in groups"): the orders a web
process accepts together share one transaction, each keeps its own answer.

A group is formed for certain, without timing: the test holds a lock the first order's group
needs (an account row, FOR UPDATE), waits until the following orders are queued behind it, then
lets go; the queued orders are then taken as one group."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction
from prometheus_client import REGISTRY

from accounts.models import User
from clearing.models import Hold, LedgerAccount, LedgerTransaction
from clearing.selectors import balance_get
from clearing.tests.helpers import assert_ledger_invariants
from matching.engine import PlaceOrder
from matching.stream import command_decode
from orders import services
from orders.models import Market, Order
from orders.services import Submitted
from orders.verdicts import request_id_new
from tests.api_client import ApiClient, issue_key

ORDER = "/api/v3/order"
Funded = Callable[..., User]
INSUFFICIENT = (-2010, "Account has insufficient balance for requested action.")
DUPLICATE = (-2010, "Duplicate order sent.")


def buy(price: str, qty: str, **extra: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "price": price, "quantity": qty, "newOrderRespType": "ACK", **extra}  # fmt: skip


def unlimited(api: ApiClient, user: User) -> ApiClient:
    """A client of `user` whose key the rate limit never refuses (the bench's tier)."""
    key, secret = issue_key(user, tier="unlimited")
    return ApiClient(api.runner, key=key.key, secret=secret)


REQUEST_IDS: dict[int, str] = {}  # order id -> the X-Request-ID of the request that placed it


def answer(api: ApiClient, params: dict[str, Any]) -> tuple[int, Any]:
    response = api.signed("POST", ORDER, params)
    body = response.json()
    if response.status_code == 200:
        REQUEST_IDS[body["orderId"]] = response["X-Request-ID"]
        return 0, body["orderId"]
    assert response.status_code == 400, response.content
    return body["code"], body["msg"]


def until(condition: Callable[[], bool]) -> None:
    """Wait for a state of the system (not a duration): fail if it never comes."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the awaited state never came"
        time.sleep(0.01)


def lock_waiters() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")  # fresh inside the locking transaction
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = cur.fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def accounts_locked(*users: User, asset_id: int) -> Iterator[None]:
    """Hold the users' AVAILABLE account of the asset (FOR UPDATE) until the block ends."""
    with transaction.atomic():
        rows = LedgerAccount.objects.select_for_update().filter(
            user_id__in=[u.id for u in users], asset_id=asset_id, kind=LedgerAccount.Kind.AVAILABLE
        )
        assert len(list(rows)) == len(users)
        yield


def sizes_since(before: Counter[int]) -> Counter[int]:
    return services.order_acceptor().sizes - before


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=64) as executor:
        yield executor


def test_one_balance_many_concurrent_orders(
    api: ApiClient,
    market: Market,
    funded: Funded,
    pool: ThreadPoolExecutor,
    redis_client: redis.Redis,
) -> None:
    """30 orders of 100 USDT each on a balance of 1000, sent at once while the first group waits
    for a lock: the queued ones are accepted in groups, exactly 10 are accepted, 20 refused
    with the single statement's answer, and the ledger holds."""
    carol, alice = funded(usdt="1000"), funded(usdt="1000")
    blocker, trader = unlimited(api, carol), unlimited(api, alice)
    queued = settings.API_DB_THREADS - 1  # the API's threads but the blocked one
    assert queued >= 2
    before = Counter(services.order_acceptor().sizes)
    with accounts_locked(carol, asset_id=market.quote_id):
        first = pool.submit(answer, blocker, buy("1000", "0.1"))
        until(lambda: lock_waiters() == 1)
        answers = [pool.submit(answer, trader, buy("1000", "0.1")) for _ in range(30)]
        until(lambda: services.order_acceptor().waiting() == queued)
    assert first.result()[0] == 0
    results = [a.result() for a in answers]

    assert sizes_since(before)[queued] >= 1  # the orders queued behind the lock: one group
    codes = Counter(code for code, _ in results)
    assert codes == {0: 10, INSUFFICIENT[0]: 20}
    assert {(code, msg) for code, msg in results if code} == {INSUFFICIENT}
    balance = balance_get(user_id=alice.id, asset_id=market.quote_id)
    assert (balance.available, balance.locked) == (Decimal(0), Decimal(1000))
    accepted = sorted(msg for code, msg in results if code == 0)
    assert sorted(Order.objects.filter(user=alice).values_list("id", flat=True)) == accepted
    assert Hold.objects.filter(user_id=alice.id).count() == 10
    assert redis_client.xlen("stream:orders:BTCUSDT") == 11  # one command per accepted order
    assert_ledger_invariants()


def test_duplicate_client_order_id_in_a_group(
    api: ApiClient,
    market: Market,
    funded: Funded,
    pool: ThreadPoolExecutor,
    redis_client: redis.Redis,
) -> None:
    """One group holds orders reusing a clientOrderId among good ones: one of the duplicates is
    accepted, the others get -2010 Duplicate order sent., the good ones are all accepted."""
    carol, bob = funded(usdt="1000"), funded(usdt="100000")
    blocker, trader = unlimited(api, carol), unlimited(api, bob)
    queued = settings.API_DB_THREADS - 1
    assert queued >= 3
    sent = [buy("1000", "0.1", newClientOrderId="dup" if i % 2 == 0 else f"good-{i}")
            for i in range(queued)]  # fmt: skip
    before = Counter(services.order_acceptor().sizes)
    with accounts_locked(carol, asset_id=market.quote_id):
        first = pool.submit(answer, blocker, buy("1000", "0.1"))
        until(lambda: lock_waiters() == 1)
        answers = [pool.submit(answer, trader, params) for params in sent]
        until(lambda: services.order_acceptor().waiting() == queued)
    assert first.result()[0] == 0
    results = [a.result() for a in answers]

    assert sizes_since(before)[queued] == 1  # all of them in one group
    dups = [
        r for params, r in zip(sent, results, strict=True) if params["newClientOrderId"] == "dup"
    ]
    goods = [
        r for params, r in zip(sent, results, strict=True) if params["newClientOrderId"] != "dup"
    ]
    assert sorted(code for code, _ in dups) == [DUPLICATE[0]] * (len(dups) - 1) + [0]
    assert all(r == DUPLICATE for r in dups if r[0])
    assert all(code == 0 for code, _ in goods)
    accepted = 1 + len(goods)
    assert Order.objects.filter(user=bob).count() == accepted
    assert Order.objects.filter(user=bob, client_order_id="dup").count() == 1
    balance = balance_get(user_id=bob.id, asset_id=market.quote_id)
    assert balance.locked == Decimal(100) * accepted
    # Each command carries its request's id (exchange_site.logctx), made on the request's thread.
    rids = {}
    entries: list[Any] = redis_client.xrange("stream:orders:BTCUSDT")  # type: ignore[assignment]
    for _, fields in entries:
        cmd, rid = command_decode(fields[b"c"])
        assert isinstance(cmd, PlaceOrder)
        rids[cmd.order_id] = rid
    placed = [order_id for code, order_id in results if code == 0]
    assert {rids[i] for i in placed} == {REQUEST_IDS[i] for i in placed}
    assert_ledger_invariants()


def _acceptance(market: Market, user: User, side: str) -> Any:
    spec = services._validate(
        market, side=side, type="LIMIT", time_in_force="GTC", quantity=Decimal("0.1"),
        quote_order_qty=None, price=Decimal("1000"), stop_price=None, stp_mode="NONE",
    )  # fmt: skip
    return services._Acceptance(
        market, user.id, spec, services._client_id(None), 200, request_id_new()
    )


def test_two_traders_in_opposite_orders_do_not_deadlock(
    market: Market, funded: Funded, redis_client: redis.Redis
) -> None:
    """Two groups (two web processes) with the same two traders' orders in opposite arrival
    orders, both waiting for the traders' accounts, then let go together: each group locks the
    accounts in the global order, so neither waits for the other; no group is rerun."""
    alice, bob = funded(usdt="1000", btc="1"), funded(usdt="1000", btc="1")
    groups = [
        [_acceptance(market, alice, "BUY"), _acceptance(market, bob, "BUY"),
         _acceptance(market, alice, "SELL"), _acceptance(market, bob, "SELL")],
        [_acceptance(market, bob, "BUY"), _acceptance(market, alice, "BUY"),
         _acceptance(market, bob, "SELL"), _acceptance(market, alice, "SELL")],
    ]  # fmt: skip
    retries = REGISTRY.get_sample_value("exchange_order_accept_group_retries_total")
    results: list[Future[list[Any]]] = [Future(), Future()]

    def run(i: int) -> None:
        try:
            results[i].set_result(services._accept_group(groups[i]))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    with accounts_locked(alice, bob, asset_id=market.quote_id):
        for thread in threads:
            thread.start()
        until(lambda: lock_waiters() == 2)
    for thread in threads:
        thread.join()

    assert REGISTRY.get_sample_value("exchange_order_accept_group_retries_total") == retries
    outcomes = [r for f in results for r in f.result()]
    assert all(isinstance(r, Submitted) for r in outcomes), outcomes
    for user in (alice, bob):
        usdt = balance_get(user_id=user.id, asset_id=market.quote_id)
        btc = balance_get(user_id=user.id, asset_id=market.base_id)
        assert (usdt.available, usdt.locked) == (Decimal(800), Decimal(200))
        assert (btc.available, btc.locked) == (Decimal("0.8"), Decimal("0.2"))
    assert redis_client.xlen("stream:orders:BTCUSDT") == 8
    assert_ledger_invariants()


def test_a_group_failing_as_a_whole_writes_nothing(market: Market, funded: Funded) -> None:
    """An error that is no refusal (here a price beyond the column) rolls the whole group back:
    nothing of the good order survives either, and every order of the group is handed back to
    be accepted alone (order_place then runs the single statement for it)."""
    alice = funded(usdt="1000")
    good = _acceptance(market, alice, "BUY")
    bad = _acceptance(market, alice, "BUY")
    bad = replace(bad, spec=replace(bad.spec, fields={**bad.spec.fields, "price": Decimal("1e20")}))
    failures = REGISTRY.get_sample_value("exchange_order_accept_group_failures_total") or 0.0

    results = services._accept_group([good, bad])

    assert all(isinstance(r, services._GroupFailed) for r in results), results
    assert REGISTRY.get_sample_value("exchange_order_accept_group_failures_total") == failures + 1
    assert not Order.objects.exists() and not Hold.objects.exists()
    assert not LedgerTransaction.objects.filter(kind="order_hold").exists()
    balance = balance_get(user_id=alice.id, asset_id=market.quote_id)
    assert (balance.available, balance.locked) == (Decimal(1000), Decimal(0))
    assert_ledger_invariants()
