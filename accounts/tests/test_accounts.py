from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import ApiKey, User
from accounts.services import api_key_issue, api_key_secret
from accounts.tests.factories import UserFactory
from exchange_site.errors import InvalidInput

pytestmark = pytest.mark.django_db


def test_api_key_secret_is_encrypted_at_rest_and_recoverable() -> None:
    user = UserFactory.create()
    api_key, secret = api_key_issue(user=user, permissions=["read", "trade"])
    stored = bytes(ApiKey.objects.get(pk=api_key.pk).secret_encrypted)
    assert secret.encode() not in stored
    assert api_key_secret(ApiKey.objects.get(pk=api_key.pk)) == secret
    assert api_key.permissions == ["read", "trade"]
    assert len(api_key.key) == 64


def test_api_key_rejects_unknown_permission_and_bad_allowlist() -> None:
    user = UserFactory.create()
    with pytest.raises(InvalidInput, match="unknown permissions"):
        api_key_issue(user=user, permissions=["read", "admin"])
    with pytest.raises(InvalidInput, match="invalid IP"):
        api_key_issue(user=user, ip_allowlist="10.0.0.1, not-an-ip")
    assert not ApiKey.objects.exists()


def test_signup_login_logout(client: Client) -> None:
    resp = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "email": "c@example.com",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
    )
    assert resp.status_code == 302
    assert "Your balances" in client.get("/").content.decode()
    client.post("/accounts/logout/")
    assert "Your balances" not in client.get("/").content.decode()  # markets only
    assert client.get("/wallet/").status_code == 302  # back to login
    assert (
        client.post("/accounts/login/", {"username": "carol", "password": "wrong"}).status_code
        == 200
    )
    resp = client.post("/accounts/login/", {"username": "carol", "password": "a-Long-pass-123"})
    assert resp.status_code == 302
    assert User.objects.filter(username="carol").exists()


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command(*args, stdout=out)
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


def create_market(
    symbol: str = "BTCUSDT", *options: str, tick: str = "0.01", step: str = "0.001"
) -> dict[str, Any]:
    """`manage.py create_market SYMBOL --base BTC --quote USDT --tick T --step S [options]`."""
    return run(
        "create_market", symbol, "--base", "BTC", "--quote", "USDT", "--tick", tick, "--step", step,
        *options,
    )  # fmt: skip


def test_operator_commands_end_to_end() -> None:
    market = create_market("BTCUSDT", "--min-notional", "5", step="0.00001")
    assert market["symbol"] == "BTCUSDT" and market["tick_size"] == "0.01"
    trader = run("create_trader", "dave", "--password", "pw-Long-enough-1")
    assert trader["username"] == "dave"
    key = run("issue_api_key", "dave", "--permissions", "read,trade")
    assert set(key) >= {"api_key", "secret"}
    first = run("credit", "dave", "USDT", "250.5", "--ref", "dep-1")
    again = run("credit", "dave", "USDT", "250.5", "--ref", "dep-1")
    assert first["applied"] and not again["applied"]
    assert again["available"] == "250.5"
    report = run("reconcile")
    assert report["ok"] is True and report["problems"] == []


def test_operator_commands_reject_bad_input() -> None:
    with pytest.raises(CommandError, match="already exists"):
        create_market()
        create_market()
    with pytest.raises(CommandError):
        create_market("XY", tick="1e-2")
    with pytest.raises(CommandError, match="unknown user"):
        run("credit", "nobody", "USDT", "1", "--ref", "x")


def test_reconcile_exits_nonzero_on_a_broken_invariant() -> None:
    from clearing.models import LedgerAccount

    create_market()
    run("create_trader", "erin")
    run("credit", "erin", "USDT", "10", "--ref", "e1")
    LedgerAccount.objects.filter(user__username="erin").update(balance=11)
    with pytest.raises(SystemExit) as exc:
        run("reconcile")
    assert exc.value.code == 1


BOOT = (
    "import django, os; "
    "os.environ['DJANGO_SETTINGS_MODULE'] = 'exchange_site.settings.base'; django.setup()"
)


def test_debug_in_production_fails_boot() -> None:
    code = BOOT
    env = {
        "ENVIRONMENT": "production",
        "DEBUG": "true",
        "SECRET_KEY": "x",
        "API_KEY_ENCRYPTION_KEY": "x",
        "PATH": "/usr/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0 and "DEBUG must be off" in proc.stderr


def test_missing_required_setting_names_the_variable(tmp_path: Path) -> None:
    code = BOOT
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin", "EXCHANGE_NO_DOTENV": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "Set the SECRET_KEY environment variable" in proc.stderr
