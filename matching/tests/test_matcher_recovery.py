"""The matcher adapter: fencing, standby takeover, and restart equivalence (real PG + Redis)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import redis

from accounts.models import User
from clearing.tests.helpers import assert_ledger_invariants
from matching.models import MarketEngineState
from matching.tests.helpers import matcher_drain as drain
from matching.worker import Deposed, Matcher
from orders.models import Market, Order, Trade
from orders.services import order_place

D = Decimal


def place(user: User, side: str, price: str, qty: str) -> Order:
    return order_place(
        user_id=user.id, symbol="BTCUSDT", side=side, type="LIMIT", time_in_force="GTC",
        price=D(price), quantity=D(qty),
    ).order  # fmt: skip


def test_a_deposed_primary_cannot_write(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    alice = funded(usdt="10000", btc="1")
    old = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=60000)
    old.setup()
    redis_client.delete("matcher:lease:0")  # the old primary stalls; its lease runs out
    new = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=60000)
    new.setup()
    assert new.fence > old.fence
    first = place(alice, "BUY", "100", "0.1")
    drain(new)
    first.refresh_from_db()
    assert first.status == "NEW"

    # The stalled primary wakes up with a command in hand (e.g. re-delivered): fenced out.
    place(alice, "BUY", "101", "0.1")
    redis_client.set("matcher:lease:0", old.token)  # even holding the lease again
    with pytest.raises(Deposed):
        for _ in range(10):
            old.run_once()
    state = MarketEngineState.objects.get(market=market)
    assert state.fence == new.fence
    # The entry the deposed matcher read stays pending under the shared consumer name; the
    # primary's periodic re-scan of pending entries picks it up.
    new.pending_rescan_s = 0
    drain(new)
    assert Order.objects.filter(status="PENDING_NEW").count() == 0
    assert_ledger_invariants()


def test_a_standby_waits_for_the_lease(market: Market, redis_client: redis.Redis) -> None:
    primary = Matcher(symbols=["BTCUSDT"], lease_ttl_ms=300)
    primary.setup()
    standby = Matcher(symbols=["BTCUSDT"], lease_ttl_ms=300)
    standby.redis = primary.redis
    # While the primary renews, the standby cannot take the lease.
    assert not standby.redis.set("matcher:lease:0", standby.token, nx=True, px=300)
    primary.stopping = True  # the primary dies without releasing; the lease expires
    standby.setup()  # returns once the lease expired and was taken
    lease = standby.redis.get("matcher:lease:0")
    assert isinstance(lease, bytes)
    assert lease.decode() == standby.token
    assert standby.fence > primary.fence


def test_restart_restores_the_book_exactly(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """Resting orders, partial fills and priorities survive a restart: a later taker matches
    the same makers in the same order as without the restart."""
    alice = funded(usdt="100000", btc="10")
    bob = funded(usdt="100000", btc="10")
    first = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=500)
    first.setup()
    makers = [place(alice, "SELL", p, "0.01") for p in ("1010", "1000", "1000", "1020")]
    place(bob, "BUY", "1000", "0.005")  # partly fills the first maker at 1000
    drain(first)
    before = first.markets["stream:orders:BTCUSDT"].book.export()
    first._release_lease()

    second = Matcher(symbols=["BTCUSDT"], block_ms=5, lease_ttl_ms=500)
    second.setup()
    after = second.markets["stream:orders:BTCUSDT"].book.export()
    assert after == before
    place(bob, "BUY", "1020", "0.03")
    drain(second)
    fills = list(Trade.objects.order_by("seq").values_list("maker_order_id", "qty"))
    assert fills == [
        (makers[1].id, D("0.005")),
        (makers[1].id, D("0.005")),
        (makers[2].id, D("0.01")),
        (makers[0].id, D("0.01")),
        (makers[3].id, D("0.005")),
    ]
