"""The trader UI's account pages: home (markets and balances), signup, logout confirmation,
password change, two-factor set-up and the API-keys page. Pages render server-side; the
live parts fetch /ui/api/ (accounts/static/ui/)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import segno
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_http_methods

from exchange_site.binance.times import now_ms
from exchange_site.errors import DomainError
from exchange_site.money import fmt
from marketdata.selectors import market_list, stats_list
from wallet.services.twofactor import (
    totp_disable,
    totp_enable_begin,
    totp_enable_confirm,
    totp_enabled,
    totp_setup_pending,
)

from .forms import SignupForm
from .models import User
from .services import API_KEY_PERMISSIONS
from .ui_apis import balances_render

DAY_MS = 86_400_000


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("home")
    else:
        form = SignupForm()
    return render(request, "accounts/signup.html", {"form": form})


class LogoutView(auth_views.LogoutView):
    """POST logs out (the header's form); GET asks for confirmation instead of a blank 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return render(request, "accounts/logout.html")


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def _market_rows() -> list[dict[str, Any]]:
    markets = market_list()
    now = now_ms()
    stats = stats_list(market_ids=[m.pk for m in markets], start_ms=now - DAY_MS, end_ms=now)
    rows = []
    for m in markets:
        s = stats.get(m.pk)
        places = _places(m.tick_size)
        change = ""
        if s is not None and s.open:
            change = f"{(s.last - s.open) / s.open * 100:+.2f}%"
        rows.append(
            {
                "symbol": m.symbol,
                "base": m.base.code,
                "quote": m.quote.code,
                "status": m.status,
                "last": fmt(s.last, places) if s else "",
                "change": change,
                "up": bool(s and s.last >= s.open),
                "volume": fmt(s.volume, _places(m.step_size)) if s else "",
                "price_decimals": places,
                "qty_decimals": _places(m.step_size),
            }
        )
    return rows


def home(request: HttpRequest) -> HttpResponse:
    """The markets (last price, 24 h change and volume) and, logged in, the balances."""
    context: dict[str, Any] = {"markets": _market_rows()}
    if request.user.is_authenticated:
        assert isinstance(request.user.pk, int)
        context["balances"] = balances_render(request.user.pk)
    return render(request, "accounts/home.html", context)


@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)  # login_required
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)  # stay logged in on this browser
        return render(
            request, "accounts/password_change.html", {"form": PasswordChangeForm(user), "done": 1}
        )
    return render(request, "accounts/password_change.html", {"form": form})


def otpauth_qr_svg(config_url: str) -> SafeString:
    """The otpauth address as a QR code, inline SVG drawn here (no image is fetched): dark
    modules on a white quiet zone, so it scans on the dark theme too."""
    qr = segno.make_qr(config_url, error="m")
    svg = qr.svg_inline(
        scale=5, border=4, dark="#000", light="#fff", svgclass="qr", title="otpauth address"
    )
    return mark_safe(svg)  # noqa: S308 - segno's markup: modules and our own title, no input text


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    """Optional TOTP (django-otp): begin (a key to add to an app, also as a QR code), confirm
    with a code, or turn off with a current code. The wallet services own the device."""
    uid = request.user.pk
    assert isinstance(uid, int)
    message, ok = "", False
    if request.method == "POST":
        action, code = request.POST.get("action"), request.POST.get("code", "").strip()
        try:
            if action == "begin":
                totp_enable_begin(user_id=uid)
            elif action == "confirm":
                totp_enable_confirm(user_id=uid, code=code)
                message, ok = "Two-factor authentication is on.", True
            elif action == "disable":
                totp_disable(user_id=uid, code=code)
                message, ok = "Two-factor authentication is off.", True
        except DomainError as exc:
            message = exc.msg
    enabled = totp_enabled(user_id=uid)
    setup = None if enabled else totp_setup_pending(user_id=uid)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "enabled": enabled,
            "setup": setup,
            "qr_svg": otpauth_qr_svg(setup.config_url) if setup else "",
            "message": message,
            "ok": ok,
        },
    )


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """The API-keys page; the list and its actions go through /ui/api/apikeys."""
    return render(request, "accounts/api_keys.html", {"permissions": API_KEY_PERMISSIONS})
