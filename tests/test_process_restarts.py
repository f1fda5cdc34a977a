"""Issue 13, item 2: no Redis or PostgreSQL error ends the matcher, and `make run` restarts a
process that exits (scripts/supervise.sh, used by every Procfile line) instead of stopping all.
Real processes, real PostgreSQL and Redis."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.db import connection

from accounts.models import User
from bench.harness.procs import ROOT, wait_for
from clearing.tests.helpers import assert_ledger_invariants
from orders.models import Market, Order
from orders.services import order_place
from tests.procs import matcher_proc

SUPERVISE = str(ROOT / "scripts" / "supervise.sh")


def _supervise(argv: list[str], **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [SUPERVISE, *argv], cwd=ROOT, env={**os.environ, "SUPERVISE_BACKOFF_S": "0.2", **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


def test_every_procfile_process_runs_under_the_supervisor() -> None:
    lines = [ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.strip()]
    assert {ln.split(":", 1)[0] for ln in lines} >= {"web", "worker", "beat", "matcher"}
    for line in lines:
        assert line.split(":", 1)[1].split()[0] == "scripts/supervise.sh", line


def test_a_process_that_exits_is_restarted_with_back_off(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sup = _supervise(["sh", "-c", f"date +%s.%N >> {runs}; exit 3"])
    try:
        wait_for(lambda: runs.exists() and len(runs.read_text().split()) >= 4, 15, "4 runs")
        starts = [float(t) for t in runs.read_text().split()[:4]]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        assert gaps[-1] > gaps[0] * 1.5, gaps  # the back-off doubles
        assert sup.poll() is None  # the supervisor itself stays up
    finally:
        os.killpg(sup.pid, signal.SIGTERM)
        sup.wait(10)


def test_sigterm_stops_the_command_and_the_supervisor(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    sup = _supervise(["sh", "-c", f"echo $$ > {pidfile}; exec sleep 300"])
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 10, "the command")
    child = int(pidfile.read_text())
    sup.send_signal(signal.SIGTERM)  # as honcho does on Ctrl-C
    assert sup.wait(10) == 0
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


@pytest.mark.django_db(transaction=True)
def test_the_matcher_process_survives_losing_its_postgres_and_redis_connections(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis, tmp_path: Path
) -> None:
    alice = funded(usdt="10000", btc="1")
    matcher = matcher_proc(["BTCUSDT"], tmp_path).start()

    def place(price: str) -> Order:
        return order_place(
            user_id=alice.id, symbol="BTCUSDT", side="BUY", type="LIMIT", time_in_force="GTC",
            price=Decimal(price), quantity=Decimal("0.1"),
        ).order  # fmt: skip

    def applied(order: Order) -> Callable[[], bool]:
        def check() -> bool:
            connection.close()
            return Order.objects.get(pk=order.pk).status == "NEW"

        return check

    try:
        first = place("100")
        wait_for(applied(first), 30, "the first order applied", [matcher])
        with connection.cursor() as cur:  # every other session on the test database
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # The matcher's Redis connections: only this test database's (other stacks share the
        # server), never our own.
        me, db = redis_client.client_id(), redis_client.connection_pool.connection_kwargs["db"]
        for client in redis_client.client_list():
            if int(client["db"]) == int(db) and int(client["id"]) != me:
                redis_client.client_kill_filter(_id=client["id"])
        second = place("99")
        wait_for(applied(second), 30, "an order placed after the connections died", [matcher])
        assert matcher.alive(), matcher.output()
    finally:
        matcher.stop()
    assert_ledger_invariants()
