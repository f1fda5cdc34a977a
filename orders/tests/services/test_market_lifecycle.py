"""Live market lifecycle with in-process matchers (the same code as `run_matcher`): fees
change at a recorded point of the stream, the engine fields change only by the safe path, and
a market moved to another shard is neither lost nor applied twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import redis
from django.db import connection

from accounts.models import User
from admin_rbac.models import AuditEntry
from admin_rbac.services import Actor
from clearing.settlement import market_settle
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import InvalidInput
from matching.models import MarketEngineState
from matching.tests.helpers import matcher_drain
from matching.worker import Matcher
from orders.markets import market_engine_fields_change, market_fees_change, market_set_status
from orders.models import Market, Order, Trade
from orders.services import order_place
from orders.tasks import stream_sweep

D = Decimal
OP = Actor.system("test")


def place(user: User, side: str, price: str, qty: str = "0.1", symbol: str = "BTCUSDT") -> Order:
    return order_place(
        user_id=user.id, symbol=symbol, side=side, type="LIMIT", time_in_force="GTC",
        price=D(price), quantity=D(qty),
    ).order  # fmt: skip


def test_a_fee_change_applies_from_its_point_in_the_stream_never_before(
    market: Market, funded: Callable[..., User], matcher: Matcher, drain: Callable[[], None]
) -> None:
    alice, bob = funded(usdt="100000"), funded(btc="10")
    place(bob, "SELL", "100", "1")
    drain()
    place(alice, "BUY", "100")  # queued before the change: the old taker fee
    change = market_fees_change(market_id=market.pk, maker_fee=D("0.002"), taker_fee=D("0.005"),
                                actor=OP, reason="new schedule")  # fmt: skip
    place(alice, "BUY", "100")  # queued after it: the new rates
    market.refresh_from_db()
    assert (market.maker_fee, market.taker_fee) == (D("0.001"), D("0.001"))  # not yet applied
    drain()
    first, second = Trade.objects.order_by("seq")
    assert (first.buyer_fee, first.seller_fee) == (D("0.0001"), D("0.01"))  # 0.1 % / 0.1 %
    assert (second.buyer_fee, second.seller_fee) == (D("0.0005"), D("0.02"))  # 0.5 % / 0.2 %
    change.refresh_from_db()
    assert change.applied_seq is not None and first.seq <= change.applied_seq < second.seq
    market.refresh_from_db()
    assert (market.maker_fee, market.taker_fee) == (D("0.002"), D("0.005"))
    entry = AuditEntry.objects.get(action="market.fees_change")
    assert entry.before == {"maker_fee": "0.001", "taker_fee": "0.001"}
    assert_ledger_invariants()


def test_a_lost_fee_change_is_sent_again_and_a_repeat_is_ignored(
    market: Market, funded: Callable[..., User], matcher: Matcher, drain: Callable[[], None],
    redis_client: redis.Redis, settings: object,
) -> None:  # fmt: skip
    first = market_fees_change(market_id=market.pk, maker_fee=D("0.002"), taker_fee=D("0.002"),
                               actor=OP, reason="a")  # fmt: skip
    redis_client.delete("stream:orders:BTCUSDT")  # Redis lost it before the matcher read it
    drain()
    first.refresh_from_db()
    assert first.applied_at is None
    settings.STREAM_SWEEP_AGE_S = 0  # type: ignore[attr-defined]
    assert stream_sweep() == 1
    drain()
    first.refresh_from_db()
    assert first.applied_at is not None
    second = market_fees_change(market_id=market.pk, maker_fee=D("0.003"), taker_fee=D("0.003"),
                                actor=OP, reason="b")  # fmt: skip
    drain()
    # A stale repeat of the first change (a sweep that raced) must not roll the rates back.
    from exchange_site.redis import get_redis
    from matching.stream import commands_enqueue
    from orders.markets import fee_command

    commands_enqueue(get_redis(), "BTCUSDT", [(fee_command(first), None)])
    drain()
    second.refresh_from_db()
    market.refresh_from_db()
    assert second.applied_at is not None
    assert (market.maker_fee, market.taker_fee) == (D("0.003"), D("0.003"))
    assert stream_sweep() == 0


def test_engine_fields_change_only_by_the_safe_path(
    market: Market, funded: Callable[..., User], matcher: Matcher, drain: Callable[[], None]
) -> None:
    alice, bob = funded(usdt="100000"), funded(btc="10")
    resting = place(alice, "BUY", "100.01")
    drain()
    change = {"tick_size": D("0.1")}
    with pytest.raises(InvalidInput, match="must be halted first"):
        market_engine_fields_change(market_id=market.pk, changes=change, actor=OP, reason="x")
    market_set_status(market_id=market.pk, status="HALT", actor=OP, reason="retick")
    with pytest.raises(InvalidInput, match="1 open order"):
        market_engine_fields_change(market_id=market.pk, changes=change, actor=OP, reason="x")
    market_set_status(market_id=market.pk, status="HALT", cancel_all=True, actor=OP, reason="x")
    drain()
    resting.refresh_from_db()
    assert resting.status == "EXPIRED"
    with pytest.raises(InvalidInput, match="min-price and max-price must be multiples of tick"):
        market_engine_fields_change(market_id=market.pk, changes={"tick_size": D("0.03")},
                                    actor=OP, reason="x")  # fmt: skip
    market_engine_fields_change(market_id=market.pk, changes={**change, "min_price": D("0.1")},
                                actor=OP, reason="retick")  # fmt: skip
    market_set_status(market_id=market.pk, status="TRADING", actor=OP, reason="resume")
    with pytest.raises(Exception, match="PRICE_FILTER"):
        place(alice, "BUY", "100.01")  # no longer a multiple of the tick
    buy = place(alice, "BUY", "100.1")
    place(bob, "SELL", "100.1")
    drain()
    trade = Trade.objects.get()
    assert trade.price == D("100.1") and trade.qty == D("0.1")
    buy.refresh_from_db()
    assert buy.status == "FILLED"
    entry = AuditEntry.objects.get(action="market.engine_fields_change")
    assert entry.before == {"tick_size": "0.01", "min_price": "0.01"}
    assert entry.after == {"tick_size": "0.1", "min_price": "0.1"}
    assert_ledger_invariants()


def test_a_place_priced_in_the_old_tick_is_rejected_not_matched(
    market: Market, funded: Callable[..., User], matcher: Matcher, drain: Callable[[], None]
) -> None:
    """The matcher's guard: a place whose integers do not express its row's price in the
    market's tick (it slipped past a configuration change) is rejected."""
    alice, bob = funded(usdt="100000"), funded(btc="10")
    place(bob, "SELL", "100", "1")
    drain()
    order = place(alice, "BUY", "100")
    # As if the order had been validated against a tick ten times finer than the matcher's.
    Order.objects.filter(pk=order.pk).update(price=D("10"))
    drain()
    order.refresh_from_db()
    assert (order.status, order.reject_reason) == ("REJECTED", "MARKET_CONFIG_CHANGED")
    assert not Trade.objects.exists()
    assert_ledger_invariants()


@pytest.fixture
def shard_matchers(market: Market) -> Iterator[tuple[Matcher, Matcher]]:
    matchers = (Matcher(shard=0, block_ms=5), Matcher(shard=1, block_ms=5))
    for m in matchers:
        m.discover_s = 0  # notice markets on every batch
        m.setup()
    yield matchers
    for m in matchers:
        m._release_lease()


def test_moving_a_market_to_another_shard_loses_and_doubles_nothing(
    market: Market, funded: Callable[..., User], shard_matchers: tuple[Matcher, Matcher]
) -> None:
    old, new = shard_matchers
    alice, bob = funded(usdt="100000"), funded(btc="10")
    place(alice, "BUY", "100")
    place(bob, "SELL", "100")
    matcher_drain(old)
    assert Trade.objects.count() == 1
    market_set_status(market_id=market.pk, status="HALT", actor=OP, reason="move")
    market_engine_fields_change(market_id=market.pk, changes={"shard": 1}, actor=OP,
                                reason="rebalance")  # fmt: skip
    market_set_status(market_id=market.pk, status="TRADING", actor=OP, reason="resume")
    buy = place(alice, "BUY", "101")
    sell = place(bob, "SELL", "101")
    # The old shard's matcher has not noticed the move yet: it reads and applies the new orders
    # in memory, but its commit is refused (the engine state row names shard 1) and it drops
    # the market, leaving the entries pending under its consumer name.
    old.discover_s = 3600
    assert old.run_once() == 0
    assert not any(ctx.market.pk == market.pk for ctx in old.markets.values())
    connection.close()
    buy.refresh_from_db()
    assert buy.status == "PENDING_NEW"
    # The new shard's matcher loads the market, claims those entries and applies them once.
    matcher_drain(new)
    matcher_drain(old)
    buy.refresh_from_db()
    sell.refresh_from_db()
    assert (buy.status, sell.status) == ("FILLED", "FILLED")
    assert Trade.objects.count() == 2
    assert list(Trade.objects.order_by("seq").values_list("seq", flat=True)) == sorted(
        set(Trade.objects.values_list("seq", flat=True))
    )
    assert MarketEngineState.objects.get(market=market).shard == 1
    market_settle(market_id=market.pk)
    assert_ledger_invariants()


def test_a_new_market_is_picked_up_by_its_shard_matcher(
    market: Market, funded: Callable[..., User], shard_matchers: tuple[Matcher, Matcher]
) -> None:
    from orders.services import market_create

    _, new = shard_matchers
    eth = market_create(base="ETH", quote="USDT", tick_size=D("0.01"), step_size=D("0.001"),
                        shard=1, actor=OP)  # fmt: skip
    alice, bob = funded(usdt="100000"), User.objects.create(username="eth-seller")
    from clearing.services import balance_credit_external

    balance_credit_external(user_id=bob.pk, asset_id=eth.base_id, amount=D("5"), ref="eth-bob")
    place(alice, "BUY", "2000", "1", symbol="ETHUSDT")
    place(bob, "SELL", "2000", "1", symbol="ETHUSDT")
    matcher_drain(new)
    assert Trade.objects.filter(market=eth).count() == 1
    assert AuditEntry.objects.filter(action="market.create", target_id=str(eth.pk)).exists()


def test_a_halted_empty_market_can_be_renamed_and_trades_on_its_new_stream(
    market: Market, funded: Callable[..., User], shard_matchers: tuple[Matcher, Matcher]
) -> None:
    from clearing.services import balance_credit_external
    from orders.services import market_create
    from wallet.models import Asset

    old, _ = shard_matchers
    eth = market_create(base="ETH", quote="USDT", tick_size=D("0.01"), step_size=D("0.001"))
    alice, bob = funded(usdt="100000"), User.objects.create(username="eth-holder")
    balance_credit_external(user_id=bob.pk, asset_id=eth.base_id, amount=D("5"), ref="eth")
    place(alice, "BUY", "2000", "1", symbol="ETHUSDT")
    place(bob, "SELL", "2000", "1", symbol="ETHUSDT")
    matcher_drain(old)
    market_set_status(market_id=eth.pk, status="HALT", actor=OP, reason="rename")
    usdc = Asset.objects.create(code="USDC", precision=8)
    market_engine_fields_change(market_id=eth.pk, changes={"quote": usdc}, actor=OP,
                                reason="quote moves to USDC")  # fmt: skip
    eth.refresh_from_db()
    assert eth.symbol == "ETHUSDC"
    market_set_status(market_id=eth.pk, status="TRADING", actor=OP, reason="resume")
    balance_credit_external(user_id=alice.pk, asset_id=usdc.pk, amount=D("5000"), ref="usdc")
    place(alice, "BUY", "2100", "1", symbol="ETHUSDC")
    place(bob, "SELL", "2100", "1", symbol="ETHUSDC")
    matcher_drain(old)
    assert list(
        Trade.objects.filter(market=eth).order_by("seq").values_list("price", flat=True)
    ) == [D("2000"), D("2100")]
    assert_ledger_invariants()
