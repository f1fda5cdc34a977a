"""TOTP two-factor authentication (django-otp's TOTPDevice): enable, confirm, verify, disable.

A user has at most one confirmed device. Once it is confirmed, withdrawals and address-book
changes need a current code. Verifying locks the device row and commits on its own, so a code
is used once (django-otp keeps the last used time step) and failures count towards
django-otp's throttling even when the caller's action is then refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from wallet import errors

DEVICE_NAME = "wallet"


@dataclass(frozen=True, slots=True)
class TotpSetup:
    config_url: str  # otpauth:// URI for an authenticator app (render it as a QR code)
    secret: str  # the same key in base32, for typing in by hand


def totp_enabled(*, user_id: int) -> bool:
    return bool(TOTPDevice.objects.filter(user_id=user_id, confirmed=True).exists())


@transaction.atomic(durable=True)
def totp_enable_begin(*, user_id: int) -> TotpSetup:
    """Start enabling: a new unconfirmed device (replacing an unfinished one). Commits."""
    if totp_enabled(user_id=user_id):
        raise errors.not_allowed("Two-factor authentication is already enabled.")
    TOTPDevice.objects.filter(user_id=user_id, confirmed=False).delete()
    device = TOTPDevice.objects.create(
        user=User.objects.get(pk=user_id), name=DEVICE_NAME, confirmed=False
    )
    from base64 import b32encode

    return TotpSetup(config_url=device.config_url, secret=b32encode(device.bin_key).decode())


def totp_enable_confirm(*, user_id: int, code: str) -> None:
    """Finish enabling with a code from the app; raises when the code is wrong."""
    if not _verify(user_id=user_id, code=code, confirmed=False):
        raise errors.second_factor_invalid()


def totp_disable(*, user_id: int, code: str) -> None:
    """Disable two-factor authentication; needs a current code."""
    if not _verify(user_id=user_id, code=code, confirmed=True):
        raise errors.second_factor_invalid()
    _delete(user_id=user_id)


@transaction.atomic(durable=True)
def _delete(*, user_id: int) -> None:
    TOTPDevice.objects.filter(user_id=user_id).delete()


def totp_require(*, user_id: int, code: str | None) -> None:
    """Pass when the user has no two-factor device, or `code` is a current unused code;
    otherwise raise the refusal (missing or invalid)."""
    if not totp_enabled(user_id=user_id):
        return
    if not code:
        raise errors.second_factor_missing()
    if not _verify(user_id=user_id, code=code, confirmed=True):
        raise errors.second_factor_invalid()


@transaction.atomic(durable=True)
def _verify(*, user_id: int, code: str, confirmed: bool) -> bool:
    """Check `code` against the user's device; commits the device's last used step (on
    success) or its throttling count (on failure). A first good code confirms a new device."""
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user_id=user_id, confirmed=confirmed)
        .order_by("id")
        .first()
    )
    if device is None or not code.isdigit():
        return False
    if not device.verify_token(code):
        return False
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    return True


def totp_setup_pending(*, user_id: int) -> TotpSetup | None:
    """The unconfirmed device's key (set up begun, not finished), to show again; None."""
    device = TOTPDevice.objects.filter(user_id=user_id, confirmed=False).order_by("-id").first()
    if device is None:
        return None
    from base64 import b32encode

    return TotpSetup(config_url=device.config_url, secret=b32encode(device.bin_key).decode())
