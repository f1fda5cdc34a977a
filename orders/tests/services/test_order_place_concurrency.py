from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
import redis

from accounts.models import User
from clearing.models import Hold
from clearing.selectors import balance_get
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import InsufficientFunds
from orders.models import Market, Order
from orders.services import order_place
from tests.threads import threads_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_orders_never_lock_more_than_available(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    """8 threads on separate connections place 15 orders each, every one holding 100 USDT, on a
    balance of 1000: exactly 10 are accepted, the rest are refused, nothing is overdrawn."""
    alice = funded(usdt="1000")
    accepted: list[int] = []
    refused: list[int] = []
    other: list[Exception] = []

    def work(_: int) -> None:
        for _ in range(15):
            try:
                order_place(
                    user_id=alice.id, symbol="BTCUSDT", side="BUY", type="LIMIT",
                    time_in_force="GTC", price=Decimal("1000"), quantity=Decimal("0.1"),
                )  # fmt: skip
                accepted.append(1)
            except InsufficientFunds:
                refused.append(1)
            except Exception as exc:
                other.append(exc)

    threads_run(work, 8)

    assert not other, other
    assert (len(accepted), len(refused)) == (10, 110)
    balance = balance_get(user_id=alice.id, asset_id=market.quote_id)
    assert (balance.available, balance.locked) == (Decimal(0), Decimal(1000))
    assert Order.objects.count() == 10 and Hold.objects.count() == 10
    assert redis_client.xlen("stream:orders:BTCUSDT") == 10  # one command per accepted order
    assert_ledger_invariants()
