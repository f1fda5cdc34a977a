"""The whole stack as real processes (daphne, matcher, Celery worker and beat) on the test
database, with a market and funded traders holding API keys: what a client sees."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from accounts.models import User
from accounts.services import api_key_issue
from bench.harness.procs import Proc, free_port, http_ok, wait_for
from clearing.services import balance_credit_external
from orders.models import Market
from orders.services import market_create
from tests.procs import beat_proc, matcher_proc, web_proc, worker_proc


@dataclass
class Trader:
    user: User
    api_key: str
    secret: str


@dataclass
class LiveStack:
    base_url: str
    market: Market
    alice: Trader
    bob: Trader
    procs: list[Proc]


def _trader(name: str, market: Market) -> Trader:
    user = User.objects.create_user(username=name, password="pw-" + name * 3)
    for asset_id, amount in ((market.quote_id, 100000), (market.base_id, 10)):
        balance_credit_external(
            user_id=user.id, asset_id=asset_id, amount=Decimal(amount), ref=f"{name}-{asset_id}"
        )
    key, secret = api_key_issue(user=user, permissions=["read", "trade"])
    return Trader(user, key.key, secret)


@contextlib.contextmanager
def live_stack_running(tmp_path: Path, **env: str) -> Iterator[LiveStack]:
    """The stack on the test database (transactional_db and a clean Redis needed); `env`
    overrides the processes' environment (e.g. a rate limit)."""
    market = market_create(
        base="BTC", quote="USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.00001"),
        min_notional=Decimal("5"),
    )  # fmt: skip
    alice, bob = _trader("alice", market), _trader("bob", market)
    port = free_port()
    env = {
        "SETTLE_SWEEP_AGE_S": "0.5",
        "API_VERDICT_TIMEOUT": "5",
        "USERDATA_KEY_CHECK_S": "1",
        **env,
    }
    procs = [
        web_proc(port, tmp_path, **env).start(),
        matcher_proc(["BTCUSDT"], tmp_path, **env).start(),
        worker_proc(tmp_path, **env).start(),
        beat_proc(tmp_path, **env).start(),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: http_ok(base + "/api/v3/ping"), 30, "the web process", procs)
        yield LiveStack(base, market, alice, bob, procs)
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture
def live_stack(
    transactional_db: None, redis_client: redis.Redis, tmp_path: Path
) -> Iterator[LiveStack]:
    with live_stack_running(tmp_path) as stack:
        yield stack
