from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from pytest_django import DjangoAssertNumQueries

from accounts.models import User
from clearing.models import Hold, LedgerAccount
from clearing.selectors import balance_get
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import InsufficientFunds
from orders.errors import OrderRejected
from orders.models import Market, Order, Trade
from orders.services import order_cancel, order_place
from wallet.models import Asset

D = Decimal


def bal(user: User, asset: Asset) -> tuple[Decimal, Decimal]:
    b = balance_get(user_id=user.id, asset_id=asset.id)
    return b.available, b.locked


def limit(user: User, side: str, price: str, qty: str, **kw: Any) -> Order:
    return order_place(
        user_id=user.id,
        symbol="BTCUSDT",
        side=side,
        type="LIMIT",
        time_in_force=kw.pop("tif", "GTC"),
        price=D(price),
        quantity=D(qty),
        **kw,
    ).order


def test_limit_orders_cross_trade_settle_with_fees(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    bob = funded(btc="1")
    buy = limit(alice, "BUY", "50000", "0.1")
    assert bal(alice, market.quote) == (D("5000"), D("5000"))
    sell = limit(bob, "SELL", "49000", "0.04")
    drain()

    buy.refresh_from_db()
    sell.refresh_from_db()
    assert sell.status == "FILLED" and buy.status == "PARTIALLY_FILLED"
    trade = Trade.objects.get()
    assert (trade.price, trade.qty, trade.quote_qty) == (D("50000"), D("0.04"), D("2000"))
    assert trade.is_buyer_maker and trade.buyer_id == alice.id and trade.seller_id == bob.id
    # alice (maker) pays 0.1 % of the BTC she receives, bob (taker) 0.1 % of the USDT.
    assert bal(alice, market.base) == (D("0.03996"), D(0))
    assert bal(alice, market.quote) == (D("5000"), D("3000"))
    assert bal(bob, market.quote) == (D("1998"), D(0))
    assert bal(bob, market.base) == (D("0.96"), D(0))
    fees = LedgerAccount.objects.filter(user=None, kind="FEES")
    assert {f.asset_id: f.balance for f in fees} == {
        market.base_id: D("0.00004"),
        market.quote_id: D("2"),
    }
    assert Hold.objects.get(order=sell).released_at is not None
    assert_ledger_invariants()

    order_cancel(user_id=alice.id, symbol="BTCUSDT", order_id=buy.id)
    drain()
    buy.refresh_from_db()
    assert buy.status == "CANCELED"
    assert bal(alice, market.quote) == (D("8000"), D(0))
    assert_ledger_invariants()


def test_price_improvement_releases_the_unused_hold(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    bob = funded(btc="1")
    limit(bob, "SELL", "40000", "0.1")
    buy = limit(alice, "BUY", "50000", "0.1")
    drain()
    buy.refresh_from_db()
    assert buy.status == "FILLED" and buy.cumulative_quote_qty == D("4000")
    assert bal(alice, market.quote) == (D("6000"), D(0))  # 5000 held, 4000 spent, 1000 back
    assert_ledger_invariants()


def test_market_buy_by_quote_and_ioc_remainder_expires(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    bob = funded(btc="1")
    limit(bob, "SELL", "50000", "0.01")
    limit(bob, "SELL", "51000", "0.01")
    m = order_place(
        user_id=alice.id, symbol="BTCUSDT", side="BUY", type="MARKET", quote_order_qty=D("760")
    ).order
    ioc = limit(alice, "BUY", "52000", "0.05", tif="IOC")
    drain()
    m.refresh_from_db()
    ioc.refresh_from_db()
    assert m.status == "FILLED" or m.status == "EXPIRED"
    assert m.cumulative_quote_qty <= D("760")
    assert ioc.status == "EXPIRED" and ioc.executed_qty > 0
    assert Order.objects.filter(user=bob, status="FILLED").count() == 2
    assert bal(alice, market.quote)[1] == 0
    assert_ledger_invariants()


def test_post_only_that_would_take_is_rejected_and_released(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    bob = funded(btc="1")
    limit(bob, "SELL", "50000", "0.01")
    maker = order_place(
        user_id=alice.id,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT_MAKER",
        price=D("50000"),
        quantity=D("0.01"),
    ).order
    drain()
    maker.refresh_from_db()
    assert maker.status == "REJECTED" and maker.reject_reason == "WOULD_TAKE"
    assert bal(alice, market.quote) == (D("10000"), D(0))
    assert_ledger_invariants()


def test_rejections_change_nothing(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="100")
    cases: list[tuple[dict[str, Any], int]] = [
        (dict(price=D("50000.000000001"), quantity=D("0.001")), -1111),  # 9 > 8 decimals
        (dict(price=D("50000"), quantity=D("0.000000001")), -1111),
        (dict(price=D("50000.001"), quantity=D("0.001")), -1013),  # not a tick multiple
        (dict(price=D("50000"), quantity=D("0.000015")), -1013),  # not a step multiple
        (dict(price=D("100"), quantity=D("0.00001")), -1013),  # notional 0.001 < 5
        (dict(price=D("50000"), quantity=D("10000")), -1013),  # above max qty
    ]
    for kwargs, code in cases:
        with pytest.raises(OrderRejected) as exc:
            order_place(
                user_id=alice.id,
                symbol="BTCUSDT",
                side="BUY",
                type="LIMIT",
                time_in_force="GTC",
                **kwargs,
            )
        assert exc.value.code == code, (kwargs, exc.value.msg)
    with pytest.raises(InsufficientFunds):
        limit(alice, "BUY", "50000", "0.01")
    with pytest.raises(OrderRejected) as exc:
        order_place(
            user_id=alice.id,
            symbol="NOPE",
            side="BUY",
            type="LIMIT",
            time_in_force="GTC",
            price=D(1),
            quantity=D(1),
        )
    assert exc.value.code == -1121
    assert not Order.objects.exists()
    assert bal(alice, market.quote) == (D("100"), D(0))
    assert_ledger_invariants()


def test_duplicate_client_order_id_among_open_orders(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    limit(alice, "BUY", "100", "0.1", client_order_id="abc")
    with pytest.raises(OrderRejected, match=r"Duplicate order sent\."):
        limit(alice, "BUY", "100", "0.1", client_order_id="abc")
    assert Order.objects.count() == 1
    assert_ledger_invariants()


def test_market_buy_by_quantity_holds_an_estimate_and_releases_the_rest(
    market: Market, funded: Callable[..., User], drain: Callable[[], None]
) -> None:
    alice = funded(usdt="10000")
    bob = funded(btc="1")
    limit(bob, "SELL", "50000", "0.01")
    limit(bob, "SELL", "50010", "0.01")
    drain()  # the book is published to the depth store the estimate reads
    buy = order_place(
        user_id=alice.id, symbol="BTCUSDT", side="BUY", type="MARKET", quantity=D("0.015")
    ).order
    # Walk of the asks: 0.01 x 50000 + 0.005 x 50010 = 750.05, plus the 5 % margin.
    assert bal(alice, market.quote) == (D("10000") - D("787.5525"), D("787.5525"))
    drain()
    buy.refresh_from_db()
    assert buy.status == "FILLED" and buy.cumulative_quote_qty == D("750.05")
    assert bal(alice, market.quote) == (D("10000") - D("750.05"), D(0))
    assert_ledger_invariants()


def test_order_place_query_budget(
    market: Market,
    funded: Callable[..., User],
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    """The acceptance transaction is the hot path of the web process: keep its round trips
    counted (BEGIN/COMMIT included)."""
    alice = funded(usdt="10000")
    limit(alice, "BUY", "100", "0.1")  # accounts exist from here on, as for any active trader
    with django_assert_max_num_queries(10):
        limit(alice, "BUY", "101", "0.1", client_order_id="budget-1")


def test_settlement_works_through_more_releases_and_trades_than_one_batch(
    market: Market, funded: Callable[..., User], matcher: Any
) -> None:
    """Bounded batches (trades and releases alike) loop until everything is settled."""
    from clearing.settlement import market_settle
    from matching.tests.helpers import matcher_drain

    alice = funded(usdt="100000")
    bob = funded(btc="10")
    for i in range(7):
        limit(bob, "SELL", str(50000 + i), "0.01")
    for i in range(5):
        limit(alice, "BUY", str(40000 + i), "0.01", tif="IOC")  # expire at once: 5 releases
    limit(alice, "BUY", "50010", "0.07")  # 7 trades
    matcher_drain(matcher)
    assert market_settle(market_id=market.id, limit=2) == 7
    assert not Trade.objects.filter(settled_at__isnull=True).exists()
    assert (
        not Hold.objects.filter(released_at__isnull=True)
        .exclude(order__status__in=("NEW", "PARTIALLY_FILLED", "PENDING_NEW"))
        .exists()
    )
    assert bal(alice, market.quote)[1] == 0
    assert_ledger_invariants()


def test_acceptance_is_one_statement(
    market: Market,
    funded: Callable[..., User],
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    """With the market in the process's cache and the trader's accounts in place, accepting an
    order is one round trip to PostgreSQL (orders_order_accept, its own transaction)."""
    alice = funded(usdt="10000")
    limit(alice, "BUY", "100", "0.1")
    with django_assert_num_queries(1):
        order = limit(alice, "BUY", "101", "0.1", client_order_id="one-trip")
    row = Order.objects.get(pk=order.pk)
    assert (row.status, row.client_order_id, row.price) == ("PENDING_NEW", "one-trip", D("101"))
    assert row.created_at == order.created_at
    hold = Hold.objects.get(order=row)
    assert (hold.key, hold.amount, hold.original_amount) == (
        f"order:{row.pk}",
        D("10.1"),
        D("10.1"),
    )
    assert bal(alice, market.quote) == (D("9979.9"), D("20.1"))
    assert_ledger_invariants()


def test_an_operators_market_change_reaches_the_cached_copy(
    market: Market, funded: Callable[..., User]
) -> None:
    """The per-process copy of the market is checked in the acceptance statement: an edit of
    the row (config_version bumped by the trigger) applies to the very next order, whether it
    tightens a filter (refused) or loosens one (accepted)."""
    alice = funded(usdt="100000")
    limit(alice, "BUY", "100", "0.1")  # caches the market
    version = Market.objects.get(pk=market.pk).config_version
    Market.objects.filter(pk=market.pk).update(max_qty=D("0.05"))
    assert Market.objects.get(pk=market.pk).config_version == version + 1
    with pytest.raises(OrderRejected) as refused:
        limit(alice, "BUY", "100", "0.1")
    assert (refused.value.code, refused.value.msg) == (-1013, "Filter failure: LOT_SIZE")
    Market.objects.filter(pk=market.pk).update(max_qty=D("9000"))
    assert limit(alice, "BUY", "100", "0.1").status == "PENDING_NEW"
    Market.objects.filter(pk=market.pk).update(status="HALT")
    with pytest.raises(OrderRejected) as closed:
        limit(alice, "BUY", "100", "0.1")
    assert closed.value.msg == "Market is closed."
    Market.objects.filter(pk=market.pk).update(status="TRADING")
    assert limit(alice, "BUY", "100", "0.1").status == "PENDING_NEW"
    assert Order.objects.filter(user=alice).count() == 3
    assert_ledger_invariants()


def test_the_verdict_on_a_new_order_carries_its_committed_state_and_fills(
    market: Market, funded: Callable[..., User], matcher: Any
) -> None:
    """The matcher's verdict on a place is what a re-read after it would show (the API builds
    RESULT and FULL answers from it)."""
    import redis as redis_lib
    from django.conf import settings

    from matching.tests.helpers import matcher_drain
    from orders.verdicts import placed_verdict_decode, verdict_key

    alice, bob = funded(usdt="10000"), funded(btc="1")
    limit(bob, "SELL", "50000", "0.01")
    limit(bob, "SELL", "50001", "0.02")
    taker = order_place(
        user_id=alice.id, symbol="BTCUSDT", side="BUY", type="LIMIT", time_in_force="IOC",
        price=D("50001"), quantity=D("0.05"),
    )  # fmt: skip
    matcher_drain(matcher)
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    payload = client.lpop(verdict_key(taker.request_id))
    assert isinstance(payload, bytes)
    verdict = placed_verdict_decode(payload)
    assert verdict is not None
    row = Order.objects.get(pk=taker.order.pk)
    assert verdict.status == row.status == "EXPIRED"
    assert market.step_size * verdict.executed_lots == row.executed_qty == D("0.03")
    assert market.tick_size * market.step_size * verdict.quote_units == row.cumulative_quote_qty
    assert verdict.is_working is row.is_working is False
    trades = Trade.objects.filter(taker_order=row).order_by("seq")
    assert [(f.trade_id, market.tick_size * f.price_ticks, market.step_size * f.qty_lots,
             f.buyer_fee, f.seller_fee) for f in verdict.fills] == [
        (t.pk, t.price, t.qty, t.buyer_fee, t.seller_fee) for t in trades
    ]  # fmt: skip
    assert len(verdict.fills) == 2
