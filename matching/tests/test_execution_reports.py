"""executionReports published by the matcher after its batch commit (matching.execution_reports),
one per order state change and one per fill, in engine order. Real PostgreSQL, Redis and an
in-process matcher; a real Redis subscriber on each user's channel stands in for a web process
holding the user's stream."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings

from accounts.models import User
from matching.tests.helpers import matcher_drain
from matching.worker import Matcher
from orders.models import Market, Order
from orders.services import order_amend_keep_priority, order_cancel, order_place

D = Decimal


class Ear:
    def __init__(self, user: User) -> None:
        self.client = redis.Redis.from_url(settings.REDIS_URL)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self.pubsub.subscribe(f"ud:{user.pk}")
        self.pubsub.get_message(timeout=1)

    def reports(self) -> list[dict[str, Any]]:
        got = []
        while (msg := self.pubsub.get_message(timeout=0.3)) is not None:
            event = json.loads(msg["data"])
            if event["e"] == "executionReport":
                got.append(event)
        return got

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


@pytest.fixture
def ears() -> Iterator[Callable[[User], Ear]]:
    made: list[Ear] = []

    def make(user: User) -> Ear:
        made.append(Ear(user))
        return made[-1]

    yield make
    for ear in made:
        ear.close()


@pytest.fixture
def matcher(market: Market) -> Iterator[Matcher]:
    m = Matcher(symbols=["BTCUSDT"], block_ms=5)
    m.setup()
    yield m
    m._release_lease()


def place(user: User, side: str, price: str, qty: str, **kw: Any) -> Order:
    kw.setdefault("type", "LIMIT")
    if kw["type"] == "LIMIT":
        kw.setdefault("time_in_force", "GTC")
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side=side, price=D(price), quantity=D(qty), **kw
    ).order


def brief(reports: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["i"], r["x"], r["X"], r["l"], r["z"]) for r in reports]


def test_fills_in_one_batch_replay_the_cumulative_quantities(
    matcher: Matcher, funded: Callable[..., User], ears: Callable[[User], Ear]
) -> None:
    alice, bob, carol = (funded(usdt="10000", btc="1") for _ in range(3))
    ear_a, ear_b, ear_c = ears(alice), ears(bob), ears(carol)
    maker = place(alice, "SELL", "100", "0.3", client_order_id="a-1")
    matcher_drain(matcher)
    assert brief(ear_a.reports()) == [(maker.id, "NEW", "NEW", "0.00000000", "0.00000000")]
    # Two takers and a cancel in ONE batch: alice's reports replay 0.1, 0.2, then the cancel.
    t1 = place(bob, "BUY", "100", "0.1")
    t2 = place(carol, "BUY", "100", "0.1")
    order_cancel(user_id=alice.id, symbol="BTCUSDT", order_id=maker.id)
    assert matcher.run_once() == 3
    reports = ear_a.reports()
    assert brief(reports) == [
        (maker.id, "TRADE", "PARTIALLY_FILLED", "0.10000000", "0.10000000"),
        (maker.id, "TRADE", "PARTIALLY_FILLED", "0.10000000", "0.20000000"),
        (maker.id, "CANCELED", "CANCELED", "0.00000000", "0.20000000"),
    ]
    assert [r["m"] for r in reports] == [True, True, False]
    assert reports[2]["C"] == "a-1" and reports[0]["C"] == ""
    assert reports[1]["Z"] == "20.00000000" and reports[0]["N"] == "USDT"
    assert reports[0]["t"] != reports[1]["t"] and reports[0]["t"] > 0
    assert brief(ear_b.reports()) == [
        (t1.id, "NEW", "NEW", "0.00000000", "0.00000000"),
        (t1.id, "TRADE", "FILLED", "0.10000000", "0.10000000"),
    ]
    carol_reports = ear_c.reports()
    assert brief(carol_reports)[-1] == (t2.id, "TRADE", "FILLED", "0.10000000", "0.10000000")
    assert carol_reports[-1]["N"] == "BTC" and D(carol_reports[-1]["n"]) == D("0.0001")


def test_ioc_remainder_amend_stp_and_refusal(
    matcher: Matcher, funded: Callable[..., User], ears: Callable[[User], Ear]
) -> None:
    alice, bob = funded(usdt="10000", btc="1"), funded(usdt="10000", btc="1")
    ear_a, ear_b = ears(alice), ears(bob)
    resting = place(alice, "SELL", "100", "0.1")
    matcher_drain(matcher)
    ioc = place(bob, "BUY", "100", "0.25", time_in_force="IOC")
    matcher_drain(matcher)
    assert brief(ear_b.reports()) == [
        (ioc.id, "NEW", "NEW", "0.00000000", "0.00000000"),
        (ioc.id, "TRADE", "PARTIALLY_FILLED", "0.10000000", "0.10000000"),
        (ioc.id, "EXPIRED", "EXPIRED", "0.00000000", "0.10000000"),
    ]
    # The maker's last fill says FILLED; no separate report for its end.
    assert brief(ear_a.reports()) == [
        (resting.id, "NEW", "NEW", "0.00000000", "0.00000000"),
        (resting.id, "TRADE", "FILLED", "0.10000000", "0.10000000"),
    ]

    big = place(alice, "SELL", "101", "0.3")
    matcher_drain(matcher)
    order_amend_keep_priority(user_id=alice.id, symbol="BTCUSDT", order_id=big.id, new_qty=D("0.2"))
    matcher_drain(matcher)
    _, amended = ear_a.reports()
    assert (amended["x"], amended["X"], amended["q"]) == ("REPLACED", "NEW", "0.20000000")

    # Self-trade prevention: alice's crossing buy expires instead of trading with herself.
    stp = place(alice, "BUY", "101", "0.1", stp_mode="EXPIRE_TAKER")
    matcher_drain(matcher)
    new, prevented = ear_a.reports()
    assert new["x"] == "NEW"
    assert (prevented["i"], prevented["x"], prevented["X"]) == (
        stp.id,
        "TRADE_PREVENTION",
        "EXPIRED_IN_MATCH",
    )
    assert isinstance(prevented["v"], int) and "v" not in new

    # A LIMIT_MAKER that would take is refused by the engine: REJECTED with the reason.
    maker_only = place(bob, "BUY", "101", "0.1", type="LIMIT_MAKER")
    matcher_drain(matcher)
    (refused,) = ear_b.reports()  # refused on arrival: never NEW
    assert (refused["i"], refused["x"], refused["X"], refused["r"]) == (
        maker_only.id,
        "REJECTED",
        "REJECTED",
        "WOULD_TAKE",
    )


def test_nobody_listening_nothing_built(
    matcher: Matcher, funded: Callable[..., User], ears: Callable[[User], Ear]
) -> None:
    alice, bob = funded(usdt="10000", btc="1"), funded(usdt="10000", btc="1")
    ear_b = ears(bob)
    place(alice, "SELL", "100", "0.1")
    matcher_drain(matcher)
    assert ear_b.reports() == []  # alice's order: nothing on bob's channel
