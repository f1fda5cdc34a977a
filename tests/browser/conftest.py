"""Fixtures of the browser tests: the real stack on the test database, and chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import playwright.sync_api as pw
import pytest
import redis

from accounts.models import User
from bench.harness.procs import free_port, wait_celery
from orders.services import market_create
from tests.browser.support import Stack
from tests.live import stack_procs_running
from wallet.services.networks import network_upsert


@pytest.fixture
def ui_stack(transactional_db: None, redis_client: redis.Redis, tmp_path: Path) -> Iterator[Stack]:
    """Daphne, a matcher for BTCUSDT, a Celery worker and beat; a BTC network for withdrawals
    and a superuser `operator`."""
    market = market_create(
        base="BTC", quote="USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.00001"),
        min_notional=Decimal("5"),
    )  # fmt: skip
    network_upsert(
        coin="BTC", code="BTC", name="Bitcoin (simulated)", withdraw_fee=Decimal("0.0005"),
        withdraw_min=Decimal("0.001"), withdraw_max=Decimal("5"), min_confirmations=2,
    )  # fmt: skip
    User.objects.create_superuser(username="operator", password="op-pass-123456")
    port = free_port()
    env = {
        "SETTLE_SWEEP_AGE_S": "0.5",
        "API_VERDICT_TIMEOUT": "5",
        "WALLET_ADDRESS_COOLDOWN_S": "0",
    }
    with stack_procs_running(tmp_path, port, env) as procs:
        wait_celery(next(proc for proc in procs if proc.name == "worker"))
        yield Stack(f"http://127.0.0.1:{port}", market, "op-pass-123456", procs)


@pytest.fixture
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "chromium is not installed: run scripts/bootstrap.sh test"
            " (Debian: apt-get install chromium)"
        )
    with pw.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield b
        b.close()
