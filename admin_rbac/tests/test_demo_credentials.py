"""`make run`'s demo accounts (scripts/demo.sh -> manage.py demo_credentials): a second run on
the same database keeps the passwords and keys that still verify and issues nothing; whatever
no longer verifies is replaced, and the demo keys it replaces are revoked."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import ApiKey, User
from accounts.services import api_key_issue, api_key_secret
from admin_rbac.services import role_names

pytestmark = pytest.mark.django_db


def _run(path: Path) -> dict[str, Any]:
    out = StringIO()
    call_command("demo_credentials", "--path", str(path), stdout=out)
    return dict(json.loads(out.getvalue()))


def _enabled_keys(name: str) -> list[str]:
    return list(
        ApiKey.objects.filter(user__username=name, enabled=True).values_list("key", flat=True)
    )


def _assert_file_verifies(creds: dict[str, Any]) -> None:
    for name, entry in creds.items():
        user = User.objects.get(username=name)
        assert user.check_password(entry["password"]), name
        if "api_key" in entry:
            assert _enabled_keys(name) == [entry["api_key"]]
            assert api_key_secret(ApiKey.objects.get(key=entry["api_key"])) == entry["secret"]


def test_second_run_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    first = _run(path)
    assert first["kept"] == [] and first["revoked_keys"] == 0
    assert sorted(first["new_key"]) == ["alice", "bob"]
    creds = json.loads(path.read_text())
    assert path.stat().st_mode & 0o777 == 0o600
    _assert_file_verifies(creds)
    assert User.objects.get(username="operator").is_superuser
    assert role_names(User.objects.get(username="op-risk")) == ["risk"]
    assert creds["op-risk"]["role"] == "risk"
    keys_before = ApiKey.objects.count()

    second = _run(path)
    assert second["new_password"] == [] and second["new_key"] == []
    assert second["revoked_keys"] == 0
    assert json.loads(path.read_text()) == creds
    assert ApiKey.objects.count() == keys_before


def test_what_no_longer_verifies_is_replaced_and_revoked(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    _run(path)
    creds = json.loads(path.read_text())
    old_alice_key = creds["alice"]["api_key"]
    # bob changed his password; alice's stored secret is wrong; an extra demo key of bob's
    # (printed by some earlier run) is still enabled.
    bob = User.objects.get(username="bob")
    bob.set_password("bob-changed-it-1")
    bob.save()
    creds["alice"]["secret"] = "not-the-secret"
    path.write_text(json.dumps(creds))
    extra, _ = api_key_issue(user=bob, permissions=["read"], label="demo")

    result = _run(path)
    assert result["new_password"] == ["bob"]
    assert sorted(result["new_key"]) == ["alice"]
    after = json.loads(path.read_text())
    _assert_file_verifies({k: v for k, v in after.items() if k != "bob"})
    assert User.objects.get(username="bob").check_password(after["bob"]["password"])
    assert after["alice"]["api_key"] != old_alice_key
    assert not ApiKey.objects.get(key=old_alice_key).enabled
    # bob's stored key verified, so it is kept; the stray demo key is revoked.
    assert after["bob"]["api_key"] == creds["bob"]["api_key"]
    assert not ApiKey.objects.get(pk=extra.pk).enabled
    assert result["revoked_keys"] == 2
    _assert_file_verifies({"bob": {"password": after["bob"]["password"], **after["bob"]}})


def test_existing_database_without_the_file(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    _run(path)
    old = json.loads(path.read_text())
    path.unlink()

    result = _run(path)
    new = json.loads(path.read_text())
    assert sorted(result["new_key"]) == ["alice", "bob"]
    assert result["revoked_keys"] == 2
    for name in ("alice", "bob"):
        assert not ApiKey.objects.get(key=old[name]["api_key"]).enabled
    _assert_file_verifies(new)
    assert not User.objects.get(username="alice").check_password(old["alice"]["password"])


def test_a_key_without_the_needed_permission_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    _run(path)
    creds = json.loads(path.read_text())
    ApiKey.objects.filter(key=creds["alice"]["api_key"]).update(can_withdraw=False)
    assert _run(path)["new_key"] == ["alice"]
    _assert_file_verifies(json.loads(path.read_text()))
