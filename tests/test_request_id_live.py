"""One request id follows an order through the real processes' JSON logs: the API's lines,
the matcher's batch that applied the command, and the settlement task (Celery's own lines in
JSON too)."""

from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis

from bench.harness.procs import Proc, free_port, wait_for, wait_web
from orders.models import Order, Trade
from orders.services import market_create
from tests.api_client import hmac_hex, now_ms
from tests.live import Trader, _trader
from tests.procs import matcher_proc, web_proc, worker_proc


def _order(base: str, trader: Trader, side: str) -> tuple[str, int]:
    params = urlencode(
        {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.001", "price": "10000", "timestamp": now_ms()}
    )  # fmt: skip
    body = f"{params}&signature={hmac_hex(trader.secret, params)}".encode()
    request = urllib.request.Request(
        base + "/api/v3/order", data=body, headers={"X-MBX-APIKEY": trader.api_key}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.headers["X-Request-ID"], int(json.loads(resp.read())["orderId"])


def _lines(proc: Proc) -> list[dict[str, Any]]:
    """Every log line of the process; each must be a JSON object."""
    out = []
    for line in proc.log_path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))  # raises on a plain-text line
    return out


def test_request_id_follows_an_order_to_settlement(
    transactional_db: None, redis_client: redis.Redis, tmp_path: Path
) -> None:
    market = market_create(
        base="BTC", quote="USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.00001"),
        min_notional=Decimal("5"),
    )  # fmt: skip
    alice, bob = _trader("alice", market), _trader("bob", market)
    port = free_port()
    env = {"LOG_LEVEL": "INFO", "API_VERDICT_TIMEOUT": "5"}
    web = web_proc(port, tmp_path, **env).start()
    matcher = matcher_proc(["BTCUSDT"], tmp_path, **env).start()
    worker = worker_proc(tmp_path, **env).start()
    procs = [web, matcher, worker]
    base = f"http://127.0.0.1:{port}"
    try:
        wait_web([port], procs)
        _order(base, alice, "SELL")
        request_id, order_id = _order(base, bob, "BUY")
        assert len(request_id) == 24
        wait_for(
            lambda: Trade.objects.filter(settled_at__isnull=False).exists(), 30,
            "the trade settled", procs,
        )  # fmt: skip
        trade = Trade.objects.get()
        assert trade.taker_order_id == order_id
        assert Order.objects.get(pk=order_id).status == "FILLED"

        def logged() -> bool:
            return any(line.get("event") == "settlement.batch" for line in _lines(worker)) and any(
                line.get("event") == "matcher.batch" for line in _lines(matcher)
            )

        wait_for(logged, 10, "the matcher's and the worker's log lines", procs)

        # The API: the access line and the order it submitted, under the request id.
        mine = [line for line in _lines(web) if line.get("request_id") == request_id]
        events = {line["event"]: line for line in mine}
        assert events["order.submitted"]["order_ids"] == [order_id]
        assert events["order.submitted"]["command_ids"] == [request_id]
        assert events["api.request"]["endpoint"] == "api/v3/order"
        assert events["api.request"]["status"] == 200

        # The matcher: the batch that applied the command names it and the trade's seq.
        batch = next(
            line for line in _lines(matcher)
            if line.get("event") == "matcher.batch" and request_id in line["command_ids"]
        )  # fmt: skip
        assert batch["trade_seqs"] == {"BTCUSDT": [trade.seq, trade.seq]}

        # Settlement: a Celery task's line with that seq and the order, and its task identity.
        settled = next(
            line for line in _lines(worker)
            if line.get("event") == "settlement.batch" and order_id in line["order_ids"]
        )  # fmt: skip
        first, last = settled["trade_seqs"]
        assert first <= trade.seq <= last
        assert settled["task_name"] == "clearing.settle_market" and settled["task_id"]
        # Celery's own lines are JSON too (the _lines parse above), e.g. the task trace.
        assert any(str(line.get("logger", "")).startswith("celery") for line in _lines(worker))
    finally:
        for proc in procs:
            proc.stop()
