"""The audit log: append-only in PostgreSQL, written with the action or not at all, and every
admin save, delete and password change lands in it with a before/after diff."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from accounts.models import User
from admin_rbac.models import AuditEntry
from admin_rbac.services import Actor, audit_record, audit_snapshot
from wallet.models import Asset


def _entry(**kw: object) -> AuditEntry:
    with transaction.atomic():
        return audit_record(actor=Actor.system("test"), action="thing.do", **kw)  # type: ignore[arg-type]


def test_audit_record_refuses_to_run_outside_a_transaction(transactional_db: None) -> None:
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        audit_record(actor=Actor.system("test"), action="thing.do")
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE admin_rbac_auditentry SET reason = 'rewritten'",
        "DELETE FROM admin_rbac_auditentry",
    ],
)
def test_the_table_refuses_update_and_delete(transactional_db: None, statement: str) -> None:
    entry = _entry(reason="original")
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cur:
        cur.execute(statement)
    with pytest.raises(DatabaseError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.reason == "original"


def test_an_action_that_fails_leaves_no_audit_entry(transactional_db: None) -> None:
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        Asset.objects.create(code="XYZ")
        audit_record(actor=Actor.system("test"), action="asset.create", reason="x")
        _ = 1 / 0
    assert not AuditEntry.objects.exists()
    assert not Asset.objects.filter(code="XYZ").exists()


def test_entry_keeps_target_subject_and_plain_values(transactional_db: None) -> None:
    user = User.objects.create(username="carol")
    asset = Asset.objects.create(code="XYZ", precision=6)
    with transaction.atomic():
        entry = audit_record(
            actor=Actor(user.pk, "carol", "10.0.0.7"), action="asset.change", target=asset,
            before=audit_snapshot(asset, fields=["precision"]), after={"precision": 8},
            reason="listing",
        )  # fmt: skip
    entry.refresh_from_db()
    assert (entry.target_type, entry.target_id, entry.target_repr) == (
        "wallet.asset",
        str(asset.pk),
        "XYZ",
    )
    assert entry.before == {"precision": 6} and entry.after == {"precision": 8}
    assert (entry.actor_id, entry.actor_name, entry.ip, entry.reason) == (
        user.pk,
        "carol",
        "10.0.0.7",
        "listing",
    )
    with transaction.atomic():
        about_user = audit_record(actor=Actor.system("test"), action="user.x", target=user)
    assert about_user.subject_user_id == user.pk


@pytest.fixture
def operator_client(db: None) -> tuple[Client, User]:
    op = User.objects.create_superuser("root", password="pw-root-123")
    client = Client(REMOTE_ADDR="192.0.2.10")
    client.force_login(op)
    return client, op


def test_admin_add_change_delete_are_audited_with_a_diff(
    operator_client: tuple[Client, User],
) -> None:
    client, op = operator_client
    resp = client.post(
        "/admin/wallet/asset/add/",
        {"code": "DOGE", "name": "Doge", "precision": "8", "audit_reason": "listing DOGE"},
    )
    assert resp.status_code == 302, resp.content[:3000]
    asset = Asset.objects.get(code="DOGE")
    resp = client.post(
        f"/admin/wallet/asset/{asset.pk}/change/",
        {"code": "DOGE", "name": "Dogecoin", "precision": "8", "audit_reason": "rename"},
    )
    assert resp.status_code == 302, resp.content[:3000]
    resp = client.post(f"/admin/wallet/asset/{asset.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == [
        "asset.admin_add",
        "asset.admin_change",
        "asset.admin_delete",
    ]
    added, changed, deleted = entries
    assert (
        added.after is not None and added.after["code"] == "DOGE" and added.reason == "listing DOGE"
    )
    assert changed.before == {"name": "Doge"} and changed.after == {"name": "Dogecoin"}
    assert changed.reason == "rename"
    assert deleted.before is not None and deleted.before["name"] == "Dogecoin"
    for e in entries:
        assert (e.actor_id, e.actor_name, e.ip) == (op.pk, "root", "192.0.2.10")
        assert e.target_type == "wallet.asset" and e.target_id == str(asset.pk)


def test_bulk_delete_action_is_audited_in_its_transaction(
    operator_client: tuple[Client, User],
) -> None:
    client, _ = operator_client
    a = Asset.objects.create(code="AAA")
    b = Asset.objects.create(code="BBB")
    resp = client.post(
        "/admin/wallet/asset/",
        {"action": "delete_selected", "_selected_action": [a.pk, b.pk], "post": "yes"},
    )
    assert resp.status_code == 302
    assert not Asset.objects.filter(code__in=["AAA", "BBB"]).exists()
    assert sorted(AuditEntry.objects.values_list("target_repr", "action")) == [
        ("AAA", "asset.admin_delete"), ("BBB", "asset.admin_delete"),
    ]  # fmt: skip


def test_password_change_is_audited_without_the_hash(
    operator_client: tuple[Client, User],
) -> None:
    client, _ = operator_client
    trader = User.objects.create_user("dave", password="old-password-1")
    resp = client.post(
        f"/admin/accounts/user/{trader.pk}/password/",
        {"password1": "A-new-passw0rd!", "password2": "A-new-passw0rd!"},
    )
    assert resp.status_code == 302, resp.content[:3000]
    entry = AuditEntry.objects.get(action="user.admin_change")
    assert entry.after == {"password": "(new)"} and entry.subject_user_id == trader.pk
    assert "pbkdf2" not in str(entry.before) + str(entry.after)


def test_audit_log_is_listed_and_filtered_read_only(
    operator_client: tuple[Client, User],
) -> None:
    client, _ = operator_client
    _entry(reason="first")
    with transaction.atomic():
        audit_record(actor=Actor.system("test"), action="other.do", reason="second")
    resp = client.get("/admin/admin_rbac/auditentry/", {"action": "other.do"})
    assert resp.status_code == 200
    body = resp.content.decode()
    assert "second" in body and "first" not in body
    entry = AuditEntry.objects.get(reason="first")
    assert client.get(f"/admin/admin_rbac/auditentry/{entry.pk}/change/").status_code == 200
    assert (
        client.post(f"/admin/admin_rbac/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
