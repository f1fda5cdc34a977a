"""/healthz and /readyz on the real stack: dependencies checked, the matchers' (primary and
standby) and the worker's heartbeats shown; a web process without Redis is not ready."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bench.harness.procs import Proc, free_port, matcher_argv, wait_for
from tests.live import LiveStack, live_stack_running
from tests.procs import stack_env, web_proc


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def live_stack(
    transactional_db: None, redis_client: redis.Redis, tmp_path: Path
) -> Iterator[LiveStack]:
    # The shared fixture with the worker's heartbeat every second instead of every 5 s (beat
    # sends the first one an interval after it starts): /readyz shows the worker sooner.
    with live_stack_running(tmp_path, {"OPS_HEARTBEAT_EVERY_S": "1"}) as stack:
        yield stack


def test_readyz_reports_dependencies_and_process_heartbeats(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    assert _get(live_stack.base_url + "/healthz") == (200, {"status": "ok"})
    standby = Proc(
        "standby",
        matcher_argv(["BTCUSDT"], "--lease-ttl-ms", "1000", "--block-ms", "10"),
        stack_env(),
        tmp_path,
    ).start()
    try:
        seen: dict[str, Any] = {}

        def everything_reported() -> bool:
            status, body = _get(live_stack.base_url + "/readyz")
            seen.update(body)
            procs = body.get("processes", {})
            roles = sorted(m["role"] for m in procs.get("matchers", []))
            return (
                status == 200
                and procs.get("matcher_ok") is True
                and procs.get("worker_ok") is True
                and roles == ["primary", "standby"]
            )

        wait_for(
            everything_reported, 45, "matchers and worker in /readyz", [*live_stack.procs, standby]
        )
        assert seen["checks"] == {"database": "ok", "redis": "ok", "channel_layer": "ok"}
        primary = next(m for m in seen["processes"]["matchers"] if m["role"] == "primary")
        assert primary["markets"] == ["BTCUSDT"] and primary["fence"] >= 1
        assert primary["age_s"] < 15 and not primary["stale"]
        assert "stream_lag_s" in primary and "last_batch_at" in primary
    finally:
        standby.stop()


def test_readyz_is_503_without_redis(transactional_db: None, tmp_path: Path) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    port = free_port()
    web = web_proc(port, tmp_path, REDIS_URL=dead_redis).start()
    try:
        wait_for(lambda: _healthz_ok(f"http://127.0.0.1:{port}/healthz"), 30, "web healthz", [web])
        status, body = _get(f"http://127.0.0.1:{port}/readyz")
        assert status == 503
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"] == "error"
        assert body["checks"]["channel_layer"] == "error"
        assert "processes" not in body
    finally:
        web.stop()


def _healthz_ok(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except OSError:
        return False
