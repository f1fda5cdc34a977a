"""Roles are Django groups kept in sync with admin_rbac.roles; assign_role sets them."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from accounts.models import User
from admin_rbac.models import AuditEntry
from admin_rbac.roles import ROLES, roles_sync


def _perms(role: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=role).permissions.select_related("content_type")
    }


def test_every_role_exists_after_migrate_with_its_permissions(db: None) -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLES)
    viewer = _perms("viewer")
    assert {"orders.view_order", "clearing.view_ledgertransaction", "admin_rbac.view_auditentry",
            "admin_rbac.view_dashboard"} <= viewer  # fmt: skip
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_")) for p in viewer)
    assert _perms("superadmin") == {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    }
    assert "admin_rbac.assign_role" not in _perms("risk") | _perms("support") | _perms("finance")


def test_sync_is_idempotent_and_restores_drifted_groups(db: None) -> None:
    group = Group.objects.get(name="viewer")
    group.permissions.add(Permission.objects.get(codename="delete_order"))
    roles_sync()
    roles_sync()
    assert "orders.delete_order" not in _perms("viewer")
    assert Group.objects.filter(name="viewer").count() == 1


def _assign(*args: str) -> dict[str, object]:
    out = StringIO()
    call_command("assign_role", *args, stdout=out)
    result = json.loads(out.getvalue())
    assert isinstance(result, dict)
    return result


def test_assign_role_sets_staff_replaces_roles_and_audits(db: None) -> None:
    user = User.objects.create_user("olga", password="x-password-1")
    assert _assign("olga", "support", "--reason", "new hire") == {
        "username": "olga", "roles": ["support"], "is_staff": True,
    }  # fmt: skip
    assert _assign("olga", "risk", "viewer") == {
        "username": "olga", "roles": ["risk", "viewer"], "is_staff": True,
    }  # fmt: skip
    user.refresh_from_db()
    assert user.has_perm("orders.view_order") and not user.has_perm("accounts.delete_user")
    assert _assign("olga", "none")["roles"] == []
    entries = list(AuditEntry.objects.filter(action="user.assign_roles").order_by("id"))
    assert [(e.before, e.after) for e in entries] == [
        ({"roles": [], "is_staff": False}, {"roles": ["support"], "is_staff": True}),
        ({"roles": ["support"], "is_staff": True}, {"roles": ["risk", "viewer"], "is_staff": True}),
        ({"roles": ["risk", "viewer"], "is_staff": True}, {"roles": [], "is_staff": True}),
    ]
    assert entries[0].actor_name == "system:cli" and entries[0].reason == "new hire"


@pytest.mark.parametrize(("args", "message"), [
    (("nobody", "viewer"), "no user"),
    (("olga", "janitor"), "unknown role janitor"),
])  # fmt: skip
def test_assign_role_refuses_unknown_users_and_roles(
    db: None, args: tuple[str, str], message: str
) -> None:
    User.objects.create_user("olga")
    with pytest.raises(CommandError, match=message):
        _assign(*args)
    assert not AuditEntry.objects.exists()
