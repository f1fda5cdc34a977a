"""The whole stack as real processes (daphne, matcher, Celery worker and beat) on the test
database, with a market and funded traders holding API keys: what a client sees."""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import redis

from accounts.models import User
from accounts.services import api_key_issue
from bench.harness.procs import Proc, free_port, wait_web
from clearing.services import balance_credit_external
from orders.models import Market
from orders.services import market_create
from tests.api_client import hmac_hex, now_ms
from tests.procs import beat_proc, matcher_proc, stop_all, web_proc, worker_proc


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

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)


def _trader(name: str, market: Market) -> Trader:
    user = User.objects.create_user(username=name, password="pw-" + name * 3)
    for asset_id, amount in ((market.quote_id, 100000), (market.base_id, 10)):
        balance_credit_external(
            user_id=user.id, asset_id=asset_id, amount=Decimal(amount), ref=f"{name}-{asset_id}"
        )
    key, secret = api_key_issue(user=user, permissions=["read", "trade"])
    return Trader(user, key.key, secret)


def order_post(stack: LiveStack, trader: Trader, side: str) -> httpx.Response:
    """A signed GTC limit order (0.001 BTCUSDT at 10000) over HTTP, the parameters in the body
    as the reference clients send a POST; fails unless it is accepted."""
    params = urlencode(
        {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.001", "price": "10000", "timestamp": now_ms()}
    )  # fmt: skip
    resp = httpx.post(
        stack.base_url + "/api/v3/order",
        content=f"{params}&signature={hmac_hex(trader.secret, params)}",
        headers={
            "X-MBX-APIKEY": trader.api_key,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp


@contextlib.contextmanager
def stack_procs_running(
    tmp_path: Path,
    port: int,
    env: Mapping[str, str],
    *,
    only: Collection[str] = ("web", "matcher", "worker", "beat"),
    proc_env: Mapping[str, Mapping[str, str]] | None = None,
    matcher_options: Sequence[str] = (),
) -> Iterator[list[Proc]]:
    """The stack's processes on the test database, the web on `port`, until they are stopped
    together. `env` is every process's environment, `proc_env` one process's (by name, over
    `env`); `only` names the processes to start (the web among them), and `matcher_options` are
    added to the matcher's command line. Yields the processes once the web answers."""

    def env_of(name: str) -> dict[str, str]:
        return {**env, **(proc_env or {}).get(name, {})}

    assert "web" in only, "the stack is ready when its web process answers"
    procs = [
        web_proc(port, tmp_path, **env_of("web")),
        matcher_proc(["BTCUSDT"], tmp_path, *matcher_options, **env_of("matcher")),
        worker_proc(tmp_path, **env_of("worker")),
        beat_proc(tmp_path, **env_of("beat")),
    ]
    procs = [proc.start() for proc in procs if proc.name in only]
    try:
        wait_web([port], procs)
        yield procs
    finally:
        stop_all(procs)


@contextlib.contextmanager
def live_stack_running(
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    *,
    only: Collection[str] = ("web", "matcher", "worker", "beat"),
    proc_env: Mapping[str, Mapping[str, str]] | None = None,
    matcher_options: Sequence[str] = (),
) -> Iterator[LiveStack]:
    """The stack on the test database (transactional_db and a clean Redis needed) with a market
    and two funded traders; `env` overrides every process's environment (e.g. a rate limit), the
    rest as in `stack_procs_running`."""
    market = market_create(
        base="BTC", quote="USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.00001"),
        min_notional=Decimal("5"),
    )  # fmt: skip
    alice, bob = _trader("alice", market), _trader("bob", market)
    port = free_port()
    common = {
        "SETTLE_SWEEP_AGE_S": "0.5",
        "API_VERDICT_TIMEOUT": "5",
        "USERDATA_KEY_CHECK_S": "1",
        **(env or {}),
    }
    with stack_procs_running(
        tmp_path, port, common, only=only, proc_env=proc_env, matcher_options=matcher_options
    ) as procs:
        yield LiveStack(f"http://127.0.0.1:{port}", market, alice, bob, procs)


@pytest.fixture
def live_stack(
    transactional_db: None, redis_client: redis.Redis, tmp_path: Path
) -> Iterator[LiveStack]:
    with live_stack_running(tmp_path) as stack:
        yield stack
