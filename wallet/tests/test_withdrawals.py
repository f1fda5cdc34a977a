"""The withdrawal workflow through its services, in process (the worker tests kill real
workers: tests/test_wallet_worker.py). Every flow ends with the ledger invariants."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from clearing.invariants import ledger_check_invariants
from clearing.models import Hold, LedgerAccount
from clearing.selectors import balance_get
from clearing.tests.helpers import assert_ledger_invariants
from exchange_site.errors import DomainError
from wallet.chain import ChainRetryableError
from wallet.chain.simulated import sim_fail_mode_set, sim_mine, sim_reorg
from wallet.models import SimTransaction, WalletProfile, Withdrawal, WithdrawalLimit
from wallet.services.addressbook import address_book_add
from wallet.services.twofactor import totp_enable_begin, totp_enable_confirm
from wallet.services.withdrawals import (
    withdrawal_cancel,
    withdrawal_operator_act,
    withdrawal_request,
    withdrawal_send,
    withdrawals_refresh,
    withdrawals_to_redrive,
)
from wallet.tests.conftest import WalletEnv

S = Withdrawal.Status


def request(env: WalletEnv, amount: str = "0.5", **kw: Any) -> Withdrawal:
    kw.setdefault("address", env.address)
    return withdrawal_request(user_id=env.trader.pk, coin="BTC", amount=Decimal(amount), **kw)


def act(w: Withdrawal, actor: User, action: str, reason: str = "") -> Withdrawal:
    return withdrawal_operator_act(
        withdrawal_id=w.pk, actor_id=actor.pk, action=action, reason=reason
    )


def refusal(code: int, fn: Callable[[], object]) -> str:
    with pytest.raises(DomainError) as info:
        fn()
    assert info.value.code == code, info.value.msg
    return info.value.msg


def balances(env: WalletEnv) -> tuple[Decimal, Decimal]:
    b = balance_get(user_id=env.trader.pk, asset_id=env.network.asset_id)
    return b.available, b.locked


def system(env: WalletEnv, kind: str) -> Decimal:
    row = LedgerAccount.objects.filter(user=None, asset_id=env.network.asset_id, kind=kind).first()
    return row.balance if row else Decimal(0)


def test_request_approve_send_confirm_moves_money_once(wallet_env: WalletEnv) -> None:
    env = wallet_env
    w = request(env, "0.5")
    assert w.status == S.REQUESTED and w.approvals_required == 1 and w.fee == Decimal("0.0005")
    assert balances(env) == (Decimal("2.5"), Decimal("0.5"))
    assert Hold.objects.get(key=f"withdrawal:{w.pk}").amount == Decimal("0.5")
    assert_ledger_invariants()

    assert act(w, env.finance, "approve").status == S.APPROVED
    assert withdrawal_send(withdrawal_id=w.pk) == "sent"
    assert withdrawal_send(withdrawal_id=w.pk) == "skipped"  # a repeated task changes nothing
    w.refresh_from_db()
    assert w.status == S.SENT and w.txid
    sent = SimTransaction.objects.get(idempotency_key=w.idempotency_key)
    assert (sent.address, sent.amount, sent.txid) == (env.address, Decimal("0.4995"), w.txid)
    assert balances(env) == (Decimal("2.5"), Decimal(0))
    assert system(env, "FEES") == Decimal("0.0005")
    assert_ledger_invariants()

    sim_mine(chain="BTC", blocks=1)
    withdrawals_refresh(network_id=env.network.pk)
    w.refresh_from_db()
    assert w.status == S.SENT and w.confirmations == 1
    sim_mine(chain="BTC", blocks=1)
    withdrawals_refresh(network_id=env.network.pk)
    w.refresh_from_db()
    assert w.status == S.CONFIRMED and w.confirmations == 2
    assert [e.to_status for e in w.events.all()] == [
        "REQUESTED", "APPROVED", "PROCESSING", "SENT", "CONFIRMED",
    ]  # fmt: skip
    assert SimTransaction.objects.filter(address=env.address).count() == 1
    assert_ledger_invariants()


def test_two_distinct_approvers_above_the_threshold(wallet_env: WalletEnv) -> None:
    env = wallet_env
    w = request(env, "1.5")
    assert w.approvals_required == 2
    refusal(-9104, lambda: act(w, env.trader, "approve"))  # no permission (and the requester)
    requester_with_rights = User.objects.get(pk=env.trader.pk)
    from wallet.tests.conftest import grant

    grant(requester_with_rights, "approve_withdrawal")
    msg = refusal(-9104, lambda: act(w, User.objects.get(pk=env.trader.pk), "approve"))
    assert "own withdrawal" in msg
    refusal(-9104, lambda: act(w, env.ops, "approve"))  # operate, not approve

    assert act(w, env.finance, "approve").status == S.REQUESTED  # 1 of 2
    msg = refusal(-9104, lambda: act(w, env.finance, "approve"))
    assert "another approver" in msg
    assert act(w, env.finance2, "approve").status == S.APPROVED
    assert w.approvals.count() == 2
    assert_ledger_invariants()


def test_auto_approval_only_for_verified_users_below_the_threshold(wallet_env: WalletEnv) -> None:
    env = wallet_env
    assert request(env, "0.05").status == S.REQUESTED  # not verified
    WalletProfile.objects.filter(user=env.trader).update(verified=True)
    small = request(env, "0.05")
    assert small.status == S.APPROVED and small.auto_approved
    assert request(env, "0.1").status == S.REQUESTED  # not below the threshold
    assert_ledger_invariants()


def test_refusals_change_nothing(wallet_env: WalletEnv, code_for: Callable[..., str]) -> None:
    env = wallet_env
    other = "simbtc1" + "f" * 32
    refusal(-4035, lambda: withdrawal_request(
        user_id=env.trader.pk, coin="BTC", address=other, amount=Decimal("0.5")))  # fmt: skip
    address_book_add(user_id=env.trader.pk, coin="BTC", address=other)  # 24 h cool-down
    msg = refusal(-4036, lambda: withdrawal_request(
        user_id=env.trader.pk, coin="BTC", address=other, amount=Decimal("0.5")))  # fmt: skip
    assert "24.0 hours" in msg
    refusal(-4007, lambda: request(env, "0.5", address="bc1qnotsimulated"))
    refusal(-4018, lambda: withdrawal_request(
        user_id=env.trader.pk, coin="NOPE", address=env.address, amount=Decimal(1)))  # fmt: skip
    refusal(-9103, lambda: request(env, "0.5", network="ETH"))
    refusal(-4022, lambda: request(env, "0.0001"))
    refusal(-4023, lambda: request(env, "6"))
    refusal(-1111, lambda: request(env, "0.123456789"))
    refusal(-4026, lambda: request(env, "4"))
    env.network.withdraw_enabled = False
    env.network.save()
    refusal(-4019, lambda: request(env, "0.5"))
    env.network.withdraw_enabled = True
    env.network.save()

    WithdrawalLimit.objects.create(
        tier="standard", asset=env.network.asset, daily=Decimal("1"), monthly=Decimal("1.5")
    )
    request(env, "0.6")
    assert "24 hours" in refusal(-4023, lambda: request(env, "0.5"))
    WithdrawalLimit.objects.update(daily=Decimal("2"))
    assert "30 days" in refusal(-4023, lambda: request(env, "1"))
    request(env, "0.9")  # exactly at the monthly limit

    setup = totp_enable_begin(user_id=env.trader.pk)
    assert setup.config_url.startswith("otpauth://totp/")
    totp_enable_confirm(user_id=env.trader.pk, code=code_for(env.trader))
    WithdrawalLimit.objects.update(daily=Decimal(10), monthly=Decimal(10))
    assert "totpCode" in refusal(-4032, lambda: request(env, "0.5"))
    assert "not valid" in refusal(-4032, lambda: request(env, "0.5", totp_code="000000"))
    # django-otp throttles after a failure (1 s, doubling): even the right code waits it out.
    code = code_for(env.trader, 1)
    refusal(-4032, lambda: request(env, "0.5", totp_code=code))
    time.sleep(1.1)
    ok = request(env, "0.5", totp_code=code)
    assert ok.status == S.REQUESTED
    # The same code again is refused: a code is used once.
    refusal(-4032, lambda: request(env, "0.5", totp_code=code))

    assert Withdrawal.objects.count() == 3
    assert balances(env) == (Decimal("1"), Decimal("2"))
    assert_ledger_invariants()


def test_client_id_makes_the_request_idempotent(wallet_env: WalletEnv) -> None:
    env = wallet_env
    first = request(env, "0.5", withdraw_order_id="bot-1")
    again = request(env, "0.5", withdraw_order_id="bot-1")
    assert again.pk == first.pk
    refusal(-9102, lambda: request(env, "0.6", withdraw_order_id="bot-1"))
    assert balances(env) == (Decimal("2.5"), Decimal("0.5"))
    assert_ledger_invariants()


def test_user_cancel_until_processing_and_operator_reject(wallet_env: WalletEnv) -> None:
    env = wallet_env
    w = request(env, "0.5")
    assert withdrawal_cancel(user_id=env.trader.pk, withdrawal_id=w.pk).status == S.CANCELLED
    assert balances(env) == (Decimal("3"), Decimal(0))
    refusal(-4031, lambda: withdrawal_cancel(user_id=env.trader.pk, withdrawal_id=w.pk))
    refusal(-4029, lambda: withdrawal_cancel(user_id=env.finance.pk, withdrawal_id=w.pk))

    w2 = request(env, "0.5")
    refusal(-9104, lambda: act(w2, env.finance, "reject"))  # a reason is required
    assert act(w2, env.finance, "reject", "destination flagged").status == S.REJECTED
    w2.refresh_from_db()
    assert w2.reason == "destination flagged"

    w3 = request(env, "0.5")
    act(w3, env.finance, "approve")
    withdrawal_send(withdrawal_id=w3.pk)
    msg = refusal(-4031, lambda: withdrawal_cancel(user_id=env.trader.pk, withdrawal_id=w3.pk))
    assert "sent" in msg
    assert balances(env) == (Decimal("2.5"), Decimal(0))
    assert_ledger_invariants()


def test_retryable_errors_then_stuck_then_operator_retry(
    wallet_env: WalletEnv, settings: object
) -> None:
    env = wallet_env
    settings.WALLET_SEND_MAX_ATTEMPTS = 2  # type: ignore[attr-defined]
    w = request(env, "0.5")
    act(w, env.finance, "approve")
    sim_fail_mode_set(chain="BTC", mode="retryable")
    with pytest.raises(ChainRetryableError):
        withdrawal_send(withdrawal_id=w.pk)
    # Its retry is scheduled: the sweep leaves it alone until then.
    assert w.pk not in withdrawals_to_redrive(older_than_s=0)
    assert withdrawal_send(withdrawal_id=w.pk) == "stuck"
    w.refresh_from_db()
    assert (w.status, w.attempts, w.stuck) == (S.PROCESSING, 2, True)
    assert "unavailable" in w.last_error
    assert balances(env) == (Decimal("2.5"), Decimal("0.5"))  # still held, with exits
    assert_ledger_invariants()

    sim_fail_mode_set(chain="BTC", mode="")
    refusal(-9104, lambda: act(w, env.finance, "retry"))  # approve is not operate
    assert act(w, env.ops, "retry").stuck is False
    assert withdrawal_send(withdrawal_id=w.pk) == "sent"
    assert SimTransaction.objects.filter(idempotency_key=w.idempotency_key).count() == 1
    assert_ledger_invariants()


def test_final_error_fails_and_releases(wallet_env: WalletEnv) -> None:
    env = wallet_env
    w = request(env, "0.5")
    act(w, env.finance, "approve")
    sim_fail_mode_set(chain="BTC", mode="final")
    assert withdrawal_send(withdrawal_id=w.pk) == "failed"
    w.refresh_from_db()
    assert w.status == S.FAILED and "refused" in w.reason
    assert balances(env) == (Decimal("3"), Decimal(0))
    assert not SimTransaction.objects.exists()
    assert_ledger_invariants()


def test_operator_fail_of_processing_checks_the_chain(wallet_env: WalletEnv) -> None:
    env = wallet_env
    from wallet.chain.simulated import SimulatedChain
    from wallet.services.withdrawals import _processing_begin

    # Processing, nothing sent (the worker died before the send): failing releases.
    w = request(env, "0.5")
    act(w, env.finance, "approve")
    assert _processing_begin(withdrawal_id=w.pk)
    assert act(w, env.ops, "fail", "node lost it").status == S.FAILED
    assert balances(env) == (Decimal("3"), Decimal(0))

    # Processing, sent (the worker died after the send): failing is impossible, it is SENT.
    w2 = request(env, "0.5")
    act(w2, env.finance, "approve")
    assert _processing_begin(withdrawal_id=w2.pk)
    w2.refresh_from_db()
    SimulatedChain().send(
        network=env.network, address=w2.address, tag="", amount=Decimal("0.4995"),
        idempotency_key=w2.idempotency_key,
    )  # fmt: skip
    assert act(w2, env.ops, "cancel", "looks stuck").status == S.SENT
    assert balances(env) == (Decimal("2.5"), Decimal(0))
    assert SimTransaction.objects.count() == 1
    assert_ledger_invariants()


def test_sent_transaction_vanishing_is_flagged_then_refunded(wallet_env: WalletEnv) -> None:
    env = wallet_env
    w = request(env, "0.5")
    act(w, env.finance, "approve")
    withdrawal_send(withdrawal_id=w.pk)
    w.refresh_from_db()
    refusal(-9104, lambda: act(w, env.ops, "fail", "gone?"))  # it is on the chain
    sim_reorg(chain="BTC", txid=w.txid)
    withdrawals_refresh(network_id=env.network.pk)
    w.refresh_from_db()
    assert w.status == S.SENT and w.stuck and "no longer on the chain" in w.last_error
    assert act(w, env.ops, "fail", "reorged out, not rebroadcast").status == S.FAILED
    assert balances(env) == (Decimal("3"), Decimal(0))
    assert system(env, "FEES") == 0
    assert_ledger_invariants()


def test_reconcile_reports_a_final_withdrawal_with_an_open_hold(wallet_env: WalletEnv) -> None:
    env = wallet_env
    w = request(env, "0.5")
    Withdrawal.objects.filter(pk=w.pk).update(status=S.REJECTED)  # a bug skipping the release
    problems = ledger_check_invariants()
    assert problems == [
        f"withdrawal {w.pk} is REJECTED but its hold of 0.500000000000000000 is open"
    ]
