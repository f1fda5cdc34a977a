"""What the endpoint machinery needs to authenticate a SIGNED request, as an interface.

The framework owns the check order (contract section 2) and the wire format (signing.py); the
API keys belong to an app. settings.API_KEY_AUTHENTICATOR names, by dotted path like
ROOT_URLCONF, the class implementing `KeyAuthenticator`; in this project that is
accounts.apikeys.ApiKeyAuthenticator, where a request's key is looked up, authorized and its
HMAC checked. It is imported and instantiated once per process, on the first SIGNED request.
"""

from __future__ import annotations

import functools
from typing import Protocol, cast

from django.conf import settings
from django.utils.module_loading import import_string


class SigningKey(Protocol):
    """The API key a SIGNED request is made with, as far as the framework needs it."""

    @property
    def id(self) -> int: ...  # the rate-limit counters are kept per key

    @property
    def user_id(self) -> int: ...  # Call.user_id

    @property
    def tier(self) -> str: ...  # the rate-limit tier (settings.API_RATE_LIMITS)

    def signature_check(self, *, query: bytes, body: bytes, signature: str) -> None:
        """Raise -1022 unless `signature` signs the raw query and body with this key."""


class KeyAuthenticator(Protocol):
    async def authorize(
        self,
        header: str | None,
        *,
        ip: str,
        need_trade: bool,
        need_withdraw: bool = False,
        over_ip_limit: bool = False,
    ) -> SigningKey:
        """The key named by the X-MBX-APIKEY `header`, allowed from `ip` with the read
        permission (the trade permission when `need_trade`; also the withdraw permission when
        `need_withdraw`). -2014 when the header is missing or malformed; -2015 for an unknown
        or disabled key, another address or a missing permission. With `over_ip_limit` (the
        request's address is over its IP limit: only a genuine key of a higher tier can let it
        through) the look-up of a key that is not cached may be skipped (taken as unknown), so
        that a flood of made-up keys costs the database nothing."""

    async def mark_used(self, key: SigningKey) -> None:
        """Called once the request is authenticated (key, signature and timing)."""


@functools.cache
def key_authenticator() -> KeyAuthenticator:
    """The configured authenticator (settings.API_KEY_AUTHENTICATOR), created once."""
    return cast(KeyAuthenticator, import_string(settings.API_KEY_AUTHENTICATOR)())
