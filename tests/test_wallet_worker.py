"""Withdrawals against the real Celery worker, killed (SIGKILL, the whole process group) in
each step of the send. A fresh worker and beat resume the work and the chain receives exactly
one transaction.

The steps are made observable with database locks held by the test, nothing mocked: a lock on
the withdrawal row holds the worker before it commits PROCESSING (or SENT); a lock on the
simulated chain's row holds it inside the send, before the chain records anything. The test
sees the worker waiting in pg_stat_activity, kills it there, releases the lock, and starts a
new worker and beat (the sweep re-drives the withdrawal).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from bench.harness.procs import Proc, wait_for
from clearing.tests.helpers import assert_ledger_invariants
from tests.procs import beat_proc, worker_proc
from wallet.chain.simulated import sim_mine
from wallet.models import SimTransaction, Withdrawal
from wallet.services.withdrawals import withdrawal_operator_act, withdrawal_request
from wallet.tests.conftest import WalletEnv

pytestmark = pytest.mark.django_db(transaction=True)
S = Withdrawal.Status
ENV = {"WALLET_SWEEP_AGE_S": "0.5", "WALLET_SWEEP_EVERY_S": "1", "WALLET_WATCH_EVERY_S": "0.5"}


class Lock:
    """A row lock held by the test on its own connection until release()."""

    held: list[Lock] = []

    def __init__(self, sql: str, params: list[object]) -> None:
        self.conn = psycopg.connect(**connection.get_connection_params())
        self.conn.execute(sql, params)
        Lock.held.append(self)

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


@pytest.fixture(autouse=True)
def _locks_released() -> Iterator[None]:
    yield
    # A failed test must not leave a lock that would block the database flush.
    for lock in Lock.held:
        lock.release()
    Lock.held.clear()


def waiting_on(table: str) -> bool:
    """Some other session waits for a lock in a statement on `table` (the worker). (The
    statement's text is truncated in pg_stat_activity: match its start.)"""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE %s",
            [f'SELECT "{table}".%'],
        )
        row = cur.fetchone()
    return bool(row and row[0])


def status(w: Withdrawal) -> str:
    return str(Withdrawal.objects.values_list("status", flat=True).get(pk=w.pk))


def sends(w: Withdrawal) -> int:
    return SimTransaction.objects.filter(idempotency_key=w.idempotency_key).count()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.kill()


def start(procs: list[Proc], tmp_path: Path, *, beat: bool) -> Proc:
    worker = worker_proc(tmp_path, name=f"worker{len(procs)}", **ENV).start()
    procs.append(worker)
    if beat:
        procs.append(beat_proc(tmp_path, **ENV).start())
    return worker


def approved(env: WalletEnv) -> Withdrawal:
    sim_mine(chain="BTC", blocks=1)  # the chain's row exists before the test locks it
    w = withdrawal_request(
        user_id=env.trader.pk, coin="BTC", address=env.address, amount=Decimal("0.5")
    )
    return w


def resume_and_finish(env: WalletEnv, w: Withdrawal, procs: list[Proc], tmp_path: Path) -> None:
    start(procs, tmp_path, beat=True)
    wait_for(lambda: status(w) == S.SENT, 30, "the resumed send", procs)
    sim_mine(chain="BTC", blocks=2)
    wait_for(lambda: status(w) == S.CONFIRMED, 30, "the confirmation", procs)
    w.refresh_from_db()
    assert sends(w) == 1
    sent = SimTransaction.objects.get(idempotency_key=w.idempotency_key)
    assert (sent.txid, sent.amount, sent.address) == (w.txid, Decimal("0.4995"), env.address)
    assert [e.to_status for e in w.events.exclude(action="retry")] == [
        "REQUESTED", "APPROVED", "PROCESSING", "SENT", "CONFIRMED",
    ]  # fmt: skip
    assert_ledger_invariants()


def test_killed_before_processing_is_committed(
    wallet_env: WalletEnv, procs: list[Proc], tmp_path: Path
) -> None:
    env = wallet_env
    w = approved(env)
    withdrawal_operator_act(withdrawal_id=w.pk, actor_id=env.finance.pk, action="approve")
    gate = Lock("SELECT 1 FROM wallet_withdrawal WHERE id = %s FOR UPDATE", [w.pk])
    worker = start(procs, tmp_path, beat=False)
    wait_for(lambda: waiting_on("wallet_withdrawal"), 30, "the worker at PROCESSING", procs)
    worker.kill()
    gate.release()
    assert status(w) == S.APPROVED and sends(w) == 0
    assert_ledger_invariants()
    resume_and_finish(env, w, procs, tmp_path)


def test_killed_inside_the_send_before_the_chain_has_it(
    wallet_env: WalletEnv, procs: list[Proc], tmp_path: Path
) -> None:
    env = wallet_env
    w = approved(env)
    gate = Lock("SELECT 1 FROM wallet_simchain WHERE code = 'BTC' FOR UPDATE", [])
    withdrawal_operator_act(withdrawal_id=w.pk, actor_id=env.finance.pk, action="approve")
    worker = start(procs, tmp_path, beat=False)
    wait_for(lambda: waiting_on("wallet_simchain"), 30, "the worker inside the send", procs)
    assert status(w) == S.PROCESSING  # committed before the side effect
    worker.kill()
    gate.release()
    time.sleep(0.2)  # the dead worker's session goes away once it gets the lock
    assert status(w) == S.PROCESSING and sends(w) == 0
    assert_ledger_invariants()
    resume_and_finish(env, w, procs, tmp_path)


def test_killed_after_the_chain_has_it_before_sent_is_committed(
    wallet_env: WalletEnv, procs: list[Proc], tmp_path: Path
) -> None:
    env = wallet_env
    w = approved(env)
    chain_gate = Lock("SELECT 1 FROM wallet_simchain WHERE code = 'BTC' FOR UPDATE", [])
    withdrawal_operator_act(withdrawal_id=w.pk, actor_id=env.finance.pk, action="approve")
    worker = start(procs, tmp_path, beat=False)
    wait_for(lambda: waiting_on("wallet_simchain"), 30, "the worker inside the send", procs)
    row_gate = Lock("SELECT 1 FROM wallet_withdrawal WHERE id = %s FOR UPDATE", [w.pk])
    chain_gate.release()  # the send goes through ...
    wait_for(lambda: sends(w) == 1, 30, "the transaction on the chain", procs)
    # ... and the worker waits to commit SENT.
    wait_for(lambda: waiting_on("wallet_withdrawal"), 30, "the worker at SENT", procs)
    worker.kill()
    row_gate.release()
    time.sleep(0.2)
    assert status(w) == S.PROCESSING and sends(w) == 1  # sent, not recorded: the danger
    assert_ledger_invariants()
    resume_and_finish(env, w, procs, tmp_path)


def test_killed_after_sent_before_confirmed(
    wallet_env: WalletEnv, procs: list[Proc], tmp_path: Path
) -> None:
    env = wallet_env
    w = approved(env)
    worker = start(procs, tmp_path, beat=False)
    withdrawal_operator_act(withdrawal_id=w.pk, actor_id=env.finance.pk, action="approve")
    wait_for(lambda: status(w) == S.SENT, 30, "the send", procs)
    worker.kill()
    assert sends(w) == 1
    assert_ledger_invariants()
    resume_and_finish(env, w, procs, tmp_path)
