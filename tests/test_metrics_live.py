"""Honest metrics, read from the real processes: the API counted by endpoint and status on the
web's /metrics, the worker's settlement and reconcile gauges on its own endpoint, and the
matcher's endpoint bound to METRICS_HOST only."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from bench.harness.procs import free_port, wait_for
from exchange_site.celery_app import app
from tests.live import live_stack_running, order_post


def _get(url: str, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=3) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name{labels...}` (labels in any order, others allowed)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def _scrape(url: str) -> str:
    status, text = _get(url)
    assert status == 200, text
    return text


def test_api_worker_and_matcher_metrics_are_served(
    transactional_db: None, redis_client: redis.Redis, tmp_path: Path
) -> None:
    worker_port, matcher_port = free_port(), free_port()
    worker_env = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker-metrics"),
        "WORKER_METRICS_PORT": str(worker_port),
        "METRICS_HOST": "127.0.0.1",
    }
    with live_stack_running(
        tmp_path,
        only=("web", "matcher", "worker"),
        proc_env={"worker": worker_env, "matcher": {"METRICS_HOST": "127.0.0.2"}},
        matcher_options=("--metrics-port", str(matcher_port)),
    ) as stack:
        base, procs = stack.base_url, stack.procs
        # API traffic: two pings (and the start-up's), an unknown path, a signed order
        # (answered after the matcher's verdict).
        for _ in range(2):
            assert _get(base + "/api/v3/ping")[0] == 200
        assert _get(base + "/api/v3/no-such-thing")[0] == 404
        order_post(stack, stack.alice, "BUY")

        web = _scrape(base + "/metrics")
        total = "exchange_api_requests_total"
        assert _sample(web, total, endpoint="api/v3/ping", method="GET", status="200") == 3
        # Unknown paths fall to the catch-all route: one series, whatever the path.
        assert _sample(web, total, method="GET", status="404") == 1
        assert "no-such-thing" not in web
        assert _sample(web, total, endpoint="api/v3/order", method="POST", status="200") == 1
        assert _sample(web, "exchange_api_request_duration_seconds_count", endpoint="api/v3/order")

        # The worker: the settlement sweep and a reconcile run in its task processes; the
        # worker's own endpoint serves what they set.
        app.send_task("clearing.settle_sweep")
        app.send_task("clearing.reconcile")
        worker_url = f"http://127.0.0.1:{worker_port}/metrics"

        def worker_exported() -> bool:
            text = _get(worker_url)[1] if _listening(worker_url) else ""
            age = _sample(
                text, "exchange_settlement_oldest_unsettled_seconds", market=str(stack.market.pk)
            )
            return age is not None and _sample(text, "exchange_reconcile_problems") == 0

        wait_for(worker_exported, 60, "the worker's metrics", procs)

        # The matcher: on METRICS_HOST (127.0.0.2) only, with the command it applied.
        matcher_url = f"http://127.0.0.2:{matcher_port}/metrics"

        def matcher_exported() -> bool:
            if not _listening(matcher_url):
                return False
            text = _get(matcher_url)[1]
            return (_sample(text, "exchange_matcher_commands_total", market="BTCUSDT") or 0) >= 1

        wait_for(matcher_exported, 30, "the matcher's metrics", procs)
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://127.0.0.1:{matcher_port}/metrics", timeout=2)


def _listening(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except OSError:
        return False
