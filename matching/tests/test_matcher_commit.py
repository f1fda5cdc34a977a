"""The batch commit: one statement, and what it hands to after_commit (real PG + Redis)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import redis

from accounts.models import User
from clearing.tests.helpers import assert_ledger_invariants
from matching.tests.helpers import matcher_drain
from matching.worker import Matcher, _Batch
from orders.models import Market, Order, Trade
from orders.services import order_place

D = Decimal


class _Recording(Matcher):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.batches: list[_Batch] = []

    def _after_commit(self, batch: _Batch) -> None:
        self.batches.append(batch)
        super()._after_commit(batch)


def test_the_commit_reports_each_trade_id_and_its_time(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    alice = funded(usdt="10000", btc="1")
    bob = funded(usdt="10000", btc="1")
    m = _Recording(symbols=["BTCUSDT"], block_ms=5)
    m.setup()
    for price in ("100", "101"):
        order_place(
            user_id=alice.id, symbol="BTCUSDT", side="SELL", type="LIMIT", time_in_force="GTC",
            price=D(price), quantity=D("0.1"),
        )  # fmt: skip
    taker = order_place(
        user_id=bob.id, symbol="BTCUSDT", side="BUY", type="LIMIT", time_in_force="GTC",
        price=D("101"), quantity=D("0.2"),
    ).order  # fmt: skip
    matcher_drain(m)
    m._release_lease()
    reported = {k: v for b in m.batches for k, v in b.trade_ids.items()}
    rows = {(t.market_id, t.seq): t.id for t in Trade.objects.all()}
    assert len(rows) == 2 and reported == rows
    assert all(b.committed_at is not None for b in m.batches)
    taker.refresh_from_db()
    assert taker.status == Order.Status.FILLED and taker.done_seq is not None
    assert_ledger_invariants()
