"""Per-market risk controls on the order path: the price band without Redis's depth cache, open
orders and order rate per user, and the circuit breaker."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest
import redis
from django.test import override_settings

from accounts.models import User
from admin_rbac.models import AuditEntry
from clearing.tests.helpers import assert_ledger_invariants
from matching.worker import Matcher
from orders.errors import OrderRejected
from orders.markets import market_breakers_release_due
from orders.models import Market, Order
from orders.services import order_place
from orders.tasks import breaker_release

D = Decimal


def place(user: User, side: str, price: str, qty: str = "0.1") -> Order:
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force="GTC",
        price=D(price), quantity=D(qty),
    ).order  # fmt: skip


def rejected(user: User, side: str, price: str, qty: str = "0.1") -> tuple[int, str]:
    with pytest.raises(OrderRejected) as info:
        place(user, side, price, qty)
    return info.value.code, info.value.msg


def test_price_band_uses_the_last_price_in_postgresql_when_redis_lost_the_depth_cache(
    market: Market, funded: Callable[..., User], drain: Callable[[], None],
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    alice, bob = funded(usdt="100000"), funded(btc="10")
    place(bob, "SELL", "100")
    place(alice, "BUY", "100")
    drain()  # last trade 100
    Market.objects.filter(pk=market.pk).update(price_band_pct=D("10"))
    band = (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
    assert rejected(alice, "BUY", "120") == band  # from Redis's depth store
    for key in redis_client.scan_iter("depth:*"):
        redis_client.delete(key)  # Redis restarted without persistence, say
    assert rejected(alice, "BUY", "120") == band  # from matching_marketenginestate
    assert rejected(bob, "SELL", "80") == band
    place(alice, "BUY", "105")  # inside the band
    assert_ledger_invariants()


def test_open_orders_per_user_follow_the_market_then_the_setting(
    market: Market, funded: Callable[..., User]
) -> None:
    alice = funded(usdt="100000")
    Market.objects.filter(pk=market.pk).update(max_open_orders=2)
    place(alice, "BUY", "100")
    place(alice, "BUY", "101")
    assert rejected(alice, "BUY", "102") == (-1013, "Filter failure: MAX_NUM_ORDERS")
    Market.objects.filter(pk=market.pk).update(max_open_orders=None)
    with override_settings(MAX_OPEN_ORDERS_PER_MARKET=3):
        place(alice, "BUY", "102")
        assert rejected(alice, "BUY", "103") == (-1013, "Filter failure: MAX_NUM_ORDERS")


def test_order_rate_per_user_and_market(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    alice, bob = funded(usdt="100000"), funded(usdt="100000")
    Market.objects.filter(pk=market.pk).update(user_order_rate_limit=3, user_order_rate_window_s=60)
    for price in ("100", "101", "102"):
        place(alice, "BUY", price)
    code, msg = rejected(alice, "BUY", "103")
    assert (code, msg) == (-1015, "Too many new orders; current limit is 3 orders per 60 SECOND.")
    place(bob, "BUY", "100")  # per user
    assert Order.objects.filter(user=alice).count() == 3


def test_max_quantity_and_notional(market: Market, funded: Callable[..., User]) -> None:
    alice = funded(usdt="10000000")
    Market.objects.filter(pk=market.pk).update(max_qty=D("1"), max_notional=D("20000"))
    assert rejected(alice, "BUY", "100", "2") == (-1013, "Filter failure: LOT_SIZE")
    assert rejected(alice, "BUY", "30000", "1") == (-1013, "Filter failure: NOTIONAL")
    place(alice, "BUY", "20000", "1")


def test_circuit_breaker_moves_the_market_to_cancel_only_then_resumes(
    market: Market, funded: Callable[..., User], matcher: Matcher, drain: Callable[[], None],
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    alice, bob = funded(usdt="100000"), funded(btc="10")
    Market.objects.filter(pk=market.pk).update(
        breaker_move_pct=D("5"), breaker_window_s=60, breaker_cooldown_s=1
    )
    matcher.discover_s = 0  # the matcher refreshes its breaker settings on the next batch
    place(bob, "SELL", "100")
    place(alice, "BUY", "100")
    drain()
    place(bob, "SELL", "104")
    place(alice, "BUY", "104")  # +4 %: within the limit
    drain()
    assert Market.objects.get(pk=market.pk).status == "TRADING"
    resting = place(alice, "BUY", "90")
    place(bob, "SELL", "106")
    place(alice, "BUY", "106")  # +6 % over the window: trips
    drain()
    tripped = Market.objects.get(pk=market.pk)
    assert (tripped.status, tripped.operator_status) == ("CANCEL_ONLY", "TRADING")
    assert tripped.breaker_until is not None
    assert rejected(alice, "BUY", "106") == (-2010, "Market is closed.")
    entry = AuditEntry.objects.get(action="market.breaker_trip")
    assert entry.actor_name == "system:circuit_breaker" and entry.after is not None
    assert (entry.after["low"], entry.after["high"]) == ("100.00", "106.00")
    drain()  # the engine applies CANCEL_ONLY; the resting order stays (cancels only)
    resting.refresh_from_db()
    assert resting.status == "NEW"
    assert market_breakers_release_due() == []  # cool-down not over
    time.sleep(1.1)
    assert breaker_release() == 1  # the beat task
    resumed = Market.objects.get(pk=market.pk)
    assert (resumed.status, resumed.breaker_until) == ("TRADING", None)
    assert AuditEntry.objects.filter(action="market.breaker_release").count() == 1
    drain()
    place(alice, "BUY", "105")
    assert_ledger_invariants()
