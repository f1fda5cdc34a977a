"""The back-office review queue: pages render, actions go through the audited service and
are permission-checked."""

from __future__ import annotations

from decimal import Decimal

from django.test import Client

from admin_rbac.models import AuditEntry
from clearing.tests.helpers import assert_ledger_invariants
from wallet.models import Withdrawal
from wallet.services.withdrawals import withdrawal_request
from wallet.tests.conftest import WalletEnv, grant


def staff_client(user: object) -> Client:
    client = Client(HTTP_HOST="127.0.0.1")
    user.is_staff = True  # type: ignore[attr-defined]
    user.save()  # type: ignore[attr-defined]
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_queue_approve_and_reject_with_reason(wallet_env: WalletEnv) -> None:
    env = wallet_env
    w1 = withdrawal_request(
        user_id=env.trader.pk, coin="BTC", address=env.address, amount=Decimal("0.5")
    )
    w2 = withdrawal_request(
        user_id=env.trader.pk, coin="BTC", address=env.address, amount=Decimal("0.2")
    )
    finance = grant(env.finance, "view_withdrawal", "view_deposit", "view_network")
    client = staff_client(finance)
    for url in ("/admin/wallet/withdrawal/?queue=review", "/admin/wallet/withdrawal/?queue=stuck",
                f"/admin/wallet/withdrawal/{w1.pk}/change/", "/admin/wallet/deposit/?flagged=yes",
                f"/admin/wallet/withdrawal/{w1.pk}/act/"):  # fmt: skip
        assert client.get(url).status_code == 200, url

    response = client.post(f"/admin/wallet/withdrawal/{w1.pk}/act/", {"action": "approve"})
    assert response.status_code == 302
    response = client.post(f"/admin/wallet/withdrawal/{w2.pk}/act/", {"action": "reject"})
    assert b"A reason is required" in response.content
    client.post(f"/admin/wallet/withdrawal/{w2.pk}/act/", {"action": "reject", "reason": "kyc"})
    w1.refresh_from_db()
    w2.refresh_from_db()
    assert w1.status == Withdrawal.Status.APPROVED
    assert (w2.status, w2.reason) == (Withdrawal.Status.REJECTED, "kyc")
    assert [e.actor_id for e in w2.events.filter(action="reject")] == [finance.pk]
    audit = AuditEntry.objects.get(action="withdrawal.reject", target_id=str(w2.pk))
    assert (audit.actor_id, audit.reason, audit.subject_user_id) == (
        finance.pk,
        "kyc",
        env.trader.pk,
    )
    assert (audit.before, audit.after) == ({"status": "REQUESTED"}, {"status": "REJECTED"})

    viewer = staff_client(grant(env.ops, "view_withdrawal"))  # operate, not approve
    w3 = withdrawal_request(
        user_id=env.trader.pk, coin="BTC", address=env.address, amount=Decimal("0.1")
    )
    response = viewer.post(f"/admin/wallet/withdrawal/{w3.pk}/act/", {"action": "approve"})
    assert b"wallet.approve_withdrawal" in response.content
    w3.refresh_from_db()
    assert w3.status == Withdrawal.Status.REQUESTED
    assert_ledger_invariants()
