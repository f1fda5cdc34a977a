"""Login throttling (django-axes): repeated failures lock a username out from that address, on
the trader UI login and on the admin login alike; the right password does not get through."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from accounts.models import User

pytestmark = pytest.mark.django_db

LOGINS = {"ui": "/accounts/login/", "admin": "/admin/login/"}


def _login(client: Client, url: str, username: str, password: str) -> int:
    return client.post(url, {"username": username, "password": password}).status_code


@pytest.mark.parametrize("where", sorted(LOGINS))
@override_settings(AXES_FAILURE_LIMIT=3)
def test_failures_lock_the_account_out_from_that_address(where: str) -> None:
    url = LOGINS[where]
    User.objects.create_user(username="carol", password="right-pw-123", is_staff=True)
    attacker = Client(REMOTE_ADDR="203.0.113.5")
    assert [_login(attacker, url, "carol", f"wrong-{i}") for i in range(2)] == [200, 200]
    assert _login(attacker, url, "carol", "wrong-2") == 429  # the limit reached
    locked = attacker.post(url, {"username": "carol", "password": "right-pw-123"})
    assert locked.status_code == 429
    assert b"Too many failed log-ins" in locked.content
    assert "_auth_user_id" not in attacker.session
    # Another address is not locked out of the account.
    owner = Client(REMOTE_ADDR="198.51.100.20")
    assert _login(owner, url, "carol", "right-pw-123") == 302


@override_settings(AXES_FAILURE_LIMIT=3)
def test_success_before_the_limit_resets_the_count() -> None:
    User.objects.create_user(username="dave", password="right-pw-123")
    client = Client(REMOTE_ADDR="203.0.113.6")
    for _ in range(2):
        assert _login(client, LOGINS["ui"], "dave", "wrong") == 200
    assert _login(client, LOGINS["ui"], "dave", "right-pw-123") == 302
    client.logout()
    for _ in range(2):
        assert _login(client, LOGINS["ui"], "dave", "wrong") == 200
    assert _login(client, LOGINS["ui"], "dave", "right-pw-123") == 302


@override_settings(AXES_FAILURE_LIMIT=2, TRUSTED_PROXIES=["10.0.0.0/8"])
def test_lockout_is_per_client_behind_a_trusted_proxy() -> None:
    User.objects.create_user(username="erin", password="right-pw-123")
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(2):
        proxy.post(LOGINS["ui"], {"username": "erin", "password": "x"}, headers=attacker)
    assert (
        proxy.post(
            LOGINS["ui"], {"username": "erin", "password": "right-pw-123"}, headers=attacker
        ).status_code
        == 429
    )
    owner = {"X-Forwarded-For": "198.51.100.30"}
    response = proxy.post(
        LOGINS["ui"], {"username": "erin", "password": "right-pw-123"}, headers=owner
    )
    assert response.status_code == 302
