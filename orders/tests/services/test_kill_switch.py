"""The kill switch: global and per-market states, the exact cut, cancel-all, and the page's
confirmation step."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client

from accounts.models import User
from admin_rbac.models import AuditEntry
from admin_rbac.services import Actor
from clearing.tests.helpers import assert_ledger_invariants
from matching.engine import PlaceOrder, SetMarketState
from matching.stream import command_decode, stream_key
from orders import services
from orders.errors import OrderRejected
from orders.markets import exchange_set_status, market_set_status
from orders.models import Market, Order, Trade
from orders.services import order_place

D = Decimal
OP = Actor.system("test")


def stream_entries(client: redis.Redis, symbol: str) -> list[bytes]:
    """The raw commands of a market's stream, in order."""
    out = []
    for _id, fields in client.xrange(stream_key(symbol)) or []:
        assert fields is not None
        raw = fields[b"c"]
        assert isinstance(raw, bytes)
        out.append(raw)
    return out


def place(user: User, side: str, price: str, qty: str = "0.01") -> Order:
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force="GTC",
        price=D(price), quantity=D(qty),
    ).order  # fmt: skip


def test_global_state_overrides_market_states_without_losing_them(
    market: Market, redis_client: redis.Redis
) -> None:
    other = Market.objects.create(
        symbol="ETHUSDT", base=market.base.__class__.objects.create(code="ETH"), quote=market.quote,
        tick_size=D("0.01"), step_size=D("0.0001"), min_price=D("0.01"), max_price=D("100000"),
        min_qty=D("0.0001"), max_qty=D("1000"), min_notional=D("5"), max_notional=D("1000000"),
        maker_fee=D("0.001"), taker_fee=D("0.001"),
    )  # fmt: skip
    market_set_status(market_id=other.pk, status="CANCEL_ONLY", actor=OP, reason="listing")
    exchange_set_status(status="HALT", actor=OP, reason="all stop")
    states = dict(Market.objects.values_list("symbol", "status"))
    assert states == {"BTCUSDT": "HALT", "ETHUSDT": "HALT"}
    exchange_set_status(status="CANCEL_ONLY", actor=OP, reason="calmer")
    assert dict(Market.objects.values_list("symbol", "status")) == {
        "BTCUSDT": "CANCEL_ONLY", "ETHUSDT": "CANCEL_ONLY",
    }  # fmt: skip
    exchange_set_status(status="TRADING", actor=OP, reason="over")
    # Each market is back to its own state.
    assert dict(Market.objects.values_list("symbol", "status")) == {
        "BTCUSDT": "TRADING", "ETHUSDT": "CANCEL_ONLY",
    }  # fmt: skip

    # The engines got every effective state through their streams, in order.
    def states_sent(symbol: str) -> list[bytes]:
        return stream_entries(redis_client, symbol)

    assert states_sent("BTCUSDT") == [b'[null,"S",3]', b'[null,"S",2]', b'[null,"S",1]']
    assert states_sent("ETHUSDT") == [b'[null,"S",2]', b'[null,"S",3]', b'[null,"S",2]',
                                      b'[null,"S",2]']  # fmt: skip
    entry = AuditEntry.objects.filter(action="exchange.set_status").order_by("id").first()
    assert entry is not None and entry.after is not None
    assert (entry.before, entry.after["status"], entry.reason) == (
        {"status": "TRADING"},
        "HALT",
        "all stop",
    )


def test_no_order_accepted_after_the_cut_is_ever_matched(
    market: Market, funded: Callable[..., User], drain: Callable[[], None],
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Traders keep sending crossing orders while the operator halts the market. Every order
    whose request starts after the halt returns is refused; one validated before the halt but
    inserted after it is refused too (the insert trigger reads the state under the lock the
    halt takes); and the engine rejects every place it meets after the state command."""
    alice, bob = funded(usdt="100000"), funded(btc="10")
    cut_done = threading.Event()
    stop = threading.Event()
    results: list[tuple[bool, bool]] = []  # (started after the cut returned, accepted)
    accepted_sides: set[str] = set()

    def trader(user: User, side: str) -> None:
        try:
            while not stop.is_set():
                after = cut_done.is_set()
                try:
                    place(user, side, "50000")
                    results.append((after, True))
                    accepted_sides.add(side)
                except OrderRejected as exc:
                    assert exc.msg == "Market is closed."
                    results.append((after, False))
        finally:
            connection.close()

    # One acceptance that validated while TRADING, held just before its insert until the halt
    # has committed.
    validated, release = threading.Event(), threading.Event()
    real_insert = services._insert

    def slow_insert(*args: Any, **kwargs: Any) -> Order:
        if threading.current_thread().name == "stale":
            validated.set()
            release.wait(10)
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(services, "_insert", slow_insert)
    stale_outcome: list[str] = []

    def stale() -> None:
        try:
            place(alice, "BUY", "50000")
            stale_outcome.append("accepted")
        except OrderRejected as exc:
            stale_outcome.append(exc.msg)
        finally:
            connection.close()

    threads = [threading.Thread(target=trader, args=(alice, "BUY")),
               threading.Thread(target=trader, args=(bob, "SELL")),
               threading.Thread(target=stale, name="stale")]  # fmt: skip
    for t in threads:
        t.start()
    assert validated.wait(10)
    deadline = time.monotonic() + 20
    while accepted_sides != {"BUY", "SELL"} and time.monotonic() < deadline:
        time.sleep(0.05)  # both sides trading before the cut, however loaded the machine
    time.sleep(0.2)
    market_set_status(market_id=market.pk, status="HALT", actor=OP, reason="cut")
    cut_done.set()
    release.set()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(20)

    assert stale_outcome == ["Market is closed."]
    assert any(accepted for after, accepted in results if not after)
    refused_after = [accepted for after, accepted in results if after]
    assert refused_after and not any(refused_after)

    drain()
    # The engine's cut: places after the state command in the stream are never matched.
    after_cut: set[int] = set()
    seen_halt = False
    for raw in stream_entries(redis_client, "BTCUSDT"):
        cmd, _ = command_decode(raw)
        if isinstance(cmd, SetMarketState):
            seen_halt = True
        elif seen_halt and isinstance(cmd, PlaceOrder):
            after_cut.add(cmd.order_id)
    assert seen_halt
    traded = set(Trade.objects.values_list("maker_order_id", flat=True)) | set(
        Trade.objects.values_list("taker_order_id", flat=True)
    )
    assert Trade.objects.exists() and not traded & after_cut
    assert set(Order.objects.filter(pk__in=after_cut).values_list("status", flat=True)) <= {
        "REJECTED"
    }
    assert not Order.objects.filter(status="PENDING_NEW").exists()
    assert_ledger_invariants()


def test_cancel_all_expires_every_order_and_records_the_requests(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    orders = [place(alice, "BUY", p, "0.1") for p in ("100", "101", "102")]
    drain()
    market_set_status(market_id=market.pk, status="CANCEL_ONLY", cancel_all=True, actor=OP,
                      reason="bad prices")  # fmt: skip
    assert all(o.cancel_requested_at for o in Order.objects.filter(pk__in=[o.pk for o in orders]))
    drain()
    assert set(Order.objects.values_list("status", flat=True)) == {"EXPIRED"}
    entry = AuditEntry.objects.get(action="market.cancel_all")
    assert entry.after is not None and entry.after["orders_cancelled"] == 3
    assert_ledger_invariants()


def _admin(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_asks_for_a_reason_and_a_confirmation(market: Market) -> None:
    root = User.objects.create_superuser("root", password="x-root-pass-1")
    browser = _admin(root)
    no_reason = browser.post("/admin/killswitch/", {"target": "__all__", "status": "HALT"})
    assert no_reason.status_code == 200 and "This field is required" in no_reason.content.decode()
    review = browser.post(
        "/admin/killswitch/", {"target": "__all__", "status": "HALT", "reason": "drill"}
    )
    assert "Set the global trading state from TRADING to HALT." in review.content.decode()
    assert Market.objects.get(pk=market.pk).status == "TRADING"  # nothing until confirmed
    assert not AuditEntry.objects.exists()
    cancel_all_global = browser.post(
        "/admin/killswitch/",
        {
            "target": "__all__",
            "status": "HALT",
            "reason": "x",
            "cancel_all": "on",
            "confirm": "yes",
        },
    )
    assert "one market at a time" in cancel_all_global.content.decode()
    done = browser.post(
        "/admin/killswitch/",
        {"target": "__all__", "status": "HALT", "reason": "drill", "confirm": "yes"},
    )
    assert done.status_code == 302
    assert Market.objects.get(pk=market.pk).status == "HALT"
    page = browser.get("/admin/killswitch/").content.decode()
    assert '<td id="global-status"><b>HALT</b></td>' in page


def test_a_state_command_lost_with_the_stream_is_restored_from_postgresql(
    market: Market, matcher: Any, redis_client: redis.Redis
) -> None:
    from matching.engine import MarketState

    market_set_status(market_id=market.pk, status="HALT", actor=OP, reason="x")
    redis_client.delete(stream_key("BTCUSDT"))  # Redis lost it before the matcher read it
    (ctx,) = matcher.markets.values()
    assert ctx.book.state == MarketState.TRADING
    matcher.run_once()  # NOGROUP: the matcher rebuilds from PostgreSQL
    (ctx,) = matcher.markets.values()
    assert ctx.book.state == MarketState.HALT
