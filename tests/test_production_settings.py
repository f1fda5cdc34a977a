"""Production settings: `manage.py check --deploy` is clean, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness.procs import ROOT

PRODUCTION = {
    "ENVIRONMENT": "production",
    "DJANGO_SETTINGS_MODULE": "exchange_site.settings.base",
    "EXCHANGE_NO_DOTENV": "1",
    "SECRET_KEY": "a-production-like-secret-of-more-than-fifty-characters-0123456789",
    "API_KEY_ENCRYPTION_KEY": "dGVzdC1vbmx5LWtleS0wMDAwMDAwMDAwMDAwMDAwMDA=",
    "ALLOWED_HOSTS": "exchange.example.com",
    "TRUSTED_PROXIES": "10.0.0.0/8",
}


def _check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT, env={**keep, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_check_deploy_is_clean_in_production() -> None:
    done = _check_deploy(**PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_flags_development_defaults() -> None:
    # The same check fails on the development defaults: the test above can fail.
    done = _check_deploy(**{**PRODUCTION, "ENVIRONMENT": "development"})
    assert done.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in done.stdout + done.stderr


def test_production_refuses_debug() -> None:
    done = _check_deploy(**PRODUCTION, DEBUG="true")
    assert done.returncode != 0
    assert "DEBUG must be off when ENVIRONMENT=production" in done.stderr


def test_bad_trusted_proxies_fail_boot() -> None:
    done = _check_deploy(**{**PRODUCTION, "TRUSTED_PROXIES": "10.0.0.0/8,not-a-net"})
    assert done.returncode != 0
    assert "TRUSTED_PROXIES: not an IP network: 'not-a-net'" in done.stderr
