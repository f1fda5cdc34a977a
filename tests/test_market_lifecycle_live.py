"""A running matcher (a real `run_matcher --shard 0` process) trades markets created while it
runs, from the command line and from the admin, within seconds and without a restart."""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts.models import User
from bench.harness.procs import Proc, wait_for
from clearing.services import balance_credit_external
from orders.models import Market, Trade
from orders.services import order_place
from tests.procs import stack_env

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def _shard_matcher(shard: int, log_dir: Path) -> Proc:
    argv = [sys.executable, "manage.py", "run_matcher", "--shard", str(shard),
            "--metrics-port", "0", "--lease-ttl-ms", "1000", "--block-ms", "10"]  # fmt: skip
    return Proc(f"matcher-{shard}", argv, stack_env(), log_dir)


def _cross(market: Market, price: str, qty: str) -> None:
    buyer = User.objects.create(username=f"b-{market.symbol}")
    seller = User.objects.create(username=f"s-{market.symbol}")
    balance_credit_external(user_id=buyer.pk, asset_id=market.quote_id, amount=D("1000000"),
                            ref=f"b-{market.pk}")  # fmt: skip
    balance_credit_external(user_id=seller.pk, asset_id=market.base_id, amount=D("1000"),
                            ref=f"s-{market.pk}")  # fmt: skip
    for user, side in ((seller, "SELL"), (buyer, "BUY")):
        order_place(user_id=user.pk, symbol=market.symbol, side=side, type="LIMIT",
                    time_in_force="GTC", price=D(price), quantity=D(qty))  # fmt: skip


def _traded(market: Market) -> bool:
    connection.close()
    return Trade.objects.filter(market=market).exists()


def test_markets_created_while_the_matcher_runs_are_traded_within_seconds(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    matcher = _shard_matcher(0, tmp_path).start()
    try:
        # Running (it holds its shard's lease), with no market at all.
        wait_for(lambda: bool(redis_client.exists("matcher:lease:0")), 60, "the matcher", [matcher])
        call_command("create_market", "SOLUSDT", "--base", "SOL", "--quote", "USDT",
                     "--tick", "0.01", "--step", "0.01", stdout=StringIO())  # fmt: skip
        sol = Market.objects.get(symbol="SOLUSDT")
        started = time.monotonic()
        _cross(sol, "150", "1")
        wait_for(lambda: _traded(sol), 15, "a trade on the market created by command", [matcher])
        assert time.monotonic() - started < 15

        root = User.objects.create_superuser("root", password="x-root-pass-1")
        browser = Client()
        browser.force_login(root)
        form = {
            "symbol": "XRPUSDT", "base": call_asset("XRP"), "quote": str(sol.quote_id),
            "tick_size": "0.0001", "step_size": "1", "shard": "0", "maker_fee": "0.001",
            "taker_fee": "0.001", "min_price": "0.0001", "max_price": "1000", "min_qty": "1",
            "max_qty": "1000000", "min_notional": "1", "max_notional": "1000000",
            "price_band_pct": "0", "user_order_rate_limit": "0", "user_order_rate_window_s": "10",
            "breaker_move_pct": "0", "breaker_window_s": "60", "breaker_cooldown_s": "300",
            "audit_reason": "listing XRP",
            "fee_changes-TOTAL_FORMS": "0", "fee_changes-INITIAL_FORMS": "0",
        }  # fmt: skip
        resp = browser.post("/admin/orders/market/add/", form)
        assert resp.status_code == 302, resp.content.decode()[-3000:]
        xrp = Market.objects.get(symbol="XRPUSDT")
        _cross(xrp, "0.5", "100")
        wait_for(lambda: _traded(xrp), 15, "a trade on the market created in the admin", [matcher])
        assert matcher.alive()
    finally:
        matcher.stop()


def call_asset(code: str) -> str:
    from wallet.models import Asset

    return str(Asset.objects.create(code=code, precision=8).pk)
