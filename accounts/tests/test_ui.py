"""The account pages and the UI's account endpoints (/ui/api/balances, /ui/api/apikeys):
session-authenticated, CSRF-checked, errors as {"code", "msg"}."""

from __future__ import annotations

import base64
import html
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
from django.test import Client

from accounts.models import ApiKey, User
from accounts.services import api_key_secret
from accounts.tests.factories import UserFactory
from clearing.services import balance_credit_external
from clearing.tests.helpers import assert_ledger_invariants
from wallet.services import asset_get_or_create

pytestmark = pytest.mark.django_db


def _client(user: User | None = None, *, csrf: bool = False) -> Client:
    c = Client(enforce_csrf_checks=csrf)
    if user is not None:
        c.force_login(user)
    return c


def _json(c: Client, method: str, url: str, body: Any = None) -> Any:
    resp = getattr(c, method)(url, data=json.dumps(body), content_type="application/json")
    return resp


def test_logout_get_asks_to_confirm_with_a_post_form() -> None:
    user = UserFactory.create()
    c = _client(user)
    page = c.get("/accounts/logout/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'method="post" action="/accounts/logout/"' in html and "Log out" in html
    assert c.get("/ui/api/balances").status_code == 200  # GET logged nothing out
    assert c.post("/accounts/logout/").status_code == 302
    assert c.get("/ui/api/balances").status_code == 403


def test_error_pages_match_the_site() -> None:
    page = _client().get("/no/such/page/")
    assert page.status_code == 404
    html = page.content.decode()
    assert "This page does not exist" in html and "ui/ui.css" in html and "Log in" in html


def test_signup_logs_in_and_home_shows_balances() -> None:
    asset_get_or_create(code="USDT")
    c = _client()
    resp = c.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "email": "",
            "password1": "a-long-pass-9",
            "password2": "a-long-pass-9",
        },
    )
    assert resp.status_code == 302
    home = c.get("/")
    assert "Your balances" in home.content.decode() and "USDT" in home.content.decode()


def test_signup_errors_are_shown_next_to_their_field() -> None:
    resp = _client().post(
        "/accounts/signup/", {"username": "x", "password1": "a", "password2": "b"}
    )
    assert resp.status_code == 200
    assert 'id="id_password2_errors"' in resp.content.decode()
    assert not User.objects.filter(username="x").exists()


def test_balances_at_the_asset_precision() -> None:
    user = UserFactory.create()
    usdt, _ = asset_get_or_create(code="USDT", precision=6)
    balance_credit_external(user_id=user.pk, asset_id=usdt.pk, amount=Decimal("12.5"), ref="b1")
    rows = _client(user).get("/ui/api/balances").json()
    assert {"asset": "USDT", "free": "12.500000", "locked": "0.000000", "precision": 6} in rows
    assert_ledger_invariants()


def test_ui_api_needs_a_session_and_a_csrf_token() -> None:
    anonymous = _client().get("/ui/api/balances")
    assert anonymous.status_code == 403 and anonymous.json()["code"] == -2015
    user = UserFactory.create()
    no_token = _json(_client(user, csrf=True), "post", "/ui/api/apikeys", {"permissions": ["read"]})
    assert no_token.status_code == 403 and "reload" in no_token.json()["msg"]
    assert not ApiKey.objects.filter(user=user).exists()


def test_api_key_secret_is_shown_once() -> None:
    user = UserFactory.create()
    c = _client(user)
    body = {"label": "bot", "permissions": ["trade"], "ipAllowlist": "10.0.0.0/8"}
    made = _json(c, "post", "/ui/api/apikeys", body)
    assert made.status_code == 201
    key = ApiKey.objects.get(user=user)
    assert made.json()["secret"] == api_key_secret(key)
    assert made.json()["permissions"] == ["read", "trade"] and key.ip_allowlist == "10.0.0.0/8"
    listed = c.get("/ui/api/apikeys").json()
    assert [k["key"] for k in listed] == [key.key] and "secret" not in listed[0]


def test_api_key_refusals_change_nothing() -> None:
    user = UserFactory.create()
    c = _client(user)
    bad_ip = _json(c, "post", "/ui/api/apikeys", {"permissions": ["read"], "ipAllowlist": "nope"})
    assert bad_ip.status_code == 400 and "invalid IP" in bad_ip.json()["msg"]
    bad_perm = _json(c, "post", "/ui/api/apikeys", {"permissions": ["admin"]})
    assert bad_perm.status_code == 400 and "unknown permissions" in bad_perm.json()["msg"]
    assert not ApiKey.objects.filter(user=user).exists()


def test_api_key_disable_and_delete_only_ones_own() -> None:
    owner, other = UserFactory.create(), UserFactory.create()
    key_id = _json(_client(owner), "post", "/ui/api/apikeys", {"permissions": ["read"]}).json()[
        "id"
    ]
    intruder = _client(other)
    assert (
        _json(intruder, "patch", f"/ui/api/apikeys/{key_id}", {"enabled": False}).status_code == 404
    )
    assert intruder.delete(f"/ui/api/apikeys/{key_id}").status_code == 404
    c = _client(owner)
    assert (
        _json(c, "patch", f"/ui/api/apikeys/{key_id}", {"enabled": False}).json()["enabled"]
        is False
    )
    assert ApiKey.objects.get(pk=key_id).enabled is False
    assert c.delete(f"/ui/api/apikeys/{key_id}").status_code == 204
    assert not ApiKey.objects.filter(pk=key_id).exists()


def test_password_change_keeps_the_session() -> None:
    user = UserFactory.create()
    user.set_password("old-pass-123")
    user.save()
    c = _client(user)
    resp = c.post(
        "/accounts/password/",
        {
            "old_password": "old-pass-123",
            "new_password1": "new-pass-456",
            "new_password2": "new-pass-456",
        },
    )
    assert "Your password was changed" in resp.content.decode()
    user.refresh_from_db()
    assert user.check_password("new-pass-456")
    assert c.get("/ui/api/balances").status_code == 200


def _qr_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) an SVG QR code draws, from the top-left dark module: the
    path of horizontal runs (M/m moves, h runs, in module units) that segno writes."""
    path = re.search(r'<path[^>]*stroke="#000"[^>]*d="([^"]+)"', svg)
    assert path is not None, svg[:300]
    x = y = Decimal(0)  # segno's coordinates are half modules (the stroke's centre line)
    dark: set[tuple[int, int]] = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path.group(1)):
        if op == "M":
            x, y = Decimal(a), Decimal(b)
        elif op == "m":
            x, y = x + Decimal(a), y + Decimal(b)
        else:
            dark.update((int(y), int(x) + i) for i in range(int(a)))
            x += Decimal(a)
    top, left = min(r for r, _ in dark), min(c for _, c in dark)
    return {(r - top, c - left) for r, c in dark}


def _field(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*value="([^"]*)"', page)
    assert found is not None, element_id
    return html.unescape(found.group(1))


def test_two_factor_enrolment_shows_a_qr_code_of_the_key(transactional_db: None) -> None:
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from wallet.services.twofactor import totp_enabled

    user = UserFactory.create()
    c = _client(user)
    page = c.post("/accounts/two-factor/", {"action": "begin"}).content.decode()
    secret, url = _field(page, "totp-secret"), _field(page, "totp-url")
    assert url == TOTPDevice.objects.get(user=user).config_url
    assert parse_qs(urlsplit(url).query)["secret"] == [secret]
    # The picture is drawn in the page (no image is fetched) and is the QR code of that address.
    box = re.search(r'<div class="qr-box" id="totp-qr"[^>]*>(<svg.*?</svg>)</div>', page, re.S)
    assert box is not None and "<img" not in page
    expected = segno.make_qr(url, error="m").matrix
    assert _qr_modules(box.group(1)) == {
        (r, c) for r, row in enumerate(expected) for c, bit in enumerate(row) if bit
    }
    again = c.get("/accounts/two-factor/").content.decode()  # shown again until confirmed
    assert _field(again, "totp-url") == url and box.group(1) in again
    assert not totp_enabled(user_id=user.pk)
    # Enrol as an authenticator app would: the code from the shown key and the clock.
    code = f"{TOTP(base64.b32decode(secret)).token():06d}"
    ok = c.post("/accounts/two-factor/", {"action": "confirm", "code": code})
    assert "Two-factor authentication is on." in ok.content.decode()
    assert 'id="totp-qr"' not in ok.content.decode()
    assert totp_enabled(user_id=user.pk)
    wrong = c.post("/accounts/two-factor/", {"action": "disable", "code": "000000"})
    assert 'class="notice bad"' in wrong.content.decode()
    assert totp_enabled(user_id=user.pk)
