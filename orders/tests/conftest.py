from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
import redis
from django.db import connection

from accounts.models import User
from accounts.tests.factories import UserFactory
from clearing.services import balance_credit_external
from clearing.settlement import market_settle
from matching.tests.helpers import matcher_drain
from matching.worker import Matcher
from orders.models import Market
from orders.tests.factories import MarketFactory


@pytest.fixture
def market(transactional_db: None, redis_client: redis.Redis) -> Market:
    MarketFactory.create()
    # Read back from PostgreSQL: NUMERIC columns return with their 18-place scale, as in
    # production (a factory's literal Decimals would hide scale bugs).
    return Market.objects.select_related("base", "quote").get(symbol="BTCUSDT")


@pytest.fixture
def funded(market: Market) -> Callable[..., User]:
    """Make a user with the given balances: funded(usdt="1000", btc="2")."""

    def make(**amounts: str) -> User:
        user = UserFactory.create()
        for code, amount in amounts.items():
            asset = market.base if code.upper() == market.base.code else market.quote
            balance_credit_external(
                user_id=user.id,
                asset_id=asset.id,
                amount=Decimal(amount),
                ref=f"t-{user.id}-{code}",
            )
        return user

    return make


@pytest.fixture
def matcher(market: Market) -> Iterator[Matcher]:
    """An in-process matcher over the test market (same code as `run_matcher`)."""
    m = Matcher(symbols=[market.symbol], block_ms=5)
    m.setup()
    yield m
    m._release_lease()


@contextmanager
def matcher_running(matcher: Matcher) -> Iterator[None]:
    """The matcher applying the stream in a thread for the duration of the block."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            matcher.run_once()
        connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


@pytest.fixture
def drain(matcher: Matcher, market: Market) -> Callable[[], None]:
    """Apply everything in the stream, then settle: the whole order path, synchronously."""

    def run() -> None:
        matcher_drain(matcher)
        market_settle(market_id=market.id)
        connection.close()

    return run
