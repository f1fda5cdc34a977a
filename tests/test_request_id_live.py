"""One request id follows an order through the real processes' JSON logs: the API's lines,
the matcher's batch that applied the command, and the settlement task (Celery's own lines in
JSON too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redis

from bench.harness.procs import Proc, wait_for
from orders.models import Order, Trade
from tests.live import live_stack_running, order_post


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
    with live_stack_running(
        tmp_path, {"LOG_LEVEL": "INFO"}, only=("web", "matcher", "worker")
    ) as stack:
        web, matcher, worker = (stack.proc(name) for name in ("web", "matcher", "worker"))
        order_post(stack, stack.alice, "SELL")
        resp = order_post(stack, stack.bob, "BUY")
        request_id, order_id = resp.headers["X-Request-ID"], int(resp.json()["orderId"])
        assert len(request_id) == 24
        wait_for(
            lambda: Trade.objects.filter(settled_at__isnull=False).exists(), 30,
            "the trade settled", stack.procs,
        )  # fmt: skip
        trade = Trade.objects.get()
        assert trade.taker_order_id == order_id
        assert Order.objects.get(pk=order_id).status == "FILLED"

        def logged() -> bool:
            return any(line.get("event") == "settlement.batch" for line in _lines(worker)) and any(
                line.get("event") == "matcher.batch" for line in _lines(matcher)
            )

        wait_for(logged, 10, "the matcher's and the worker's log lines", stack.procs)

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
