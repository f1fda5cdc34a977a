"""Authenticating a SIGNED API request: the key, its permissions and IP allow-list, the HMAC.

`ApiKeyAuthenticator` is the exchange_site.binance.auth.KeyAuthenticator of this project
(settings.API_KEY_AUTHENTICATOR). The endpoint machinery calls, in the contract's check order:
`authorize` (X-MBX-APIKEY header -> cached key, permission, IP: -2014/-2015) after the
address's rate limit; after the presence of timestamp/signature, `KeyInfo.signature_check`
(HMAC-SHA256 of the raw payload with the key's secret: -1022); then the key's rate limits, and
after the timing window, `mark_used`.

The key row and its decrypted secret are cached in-process for settings.API_KEY_CACHE_TTL
seconds (default 5 s): a lookup per request would cost a query plus a Fernet decryption.
Disabling a key (or its user), changing its permissions, tier or IP allow-list therefore takes
effect within that TTL. Unknown keys are cached too, so a flood of bad keys does not reach the
database more than once per TTL per key; and for an address over its IP limit, keys not in the
cache are looked up only within a small per-process budget (`key_lookup`).

`last_used_at` is written at most once a minute per key and process, never per request.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from datetime import timedelta

import structlog
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from exchange_site.binance import errors
from exchange_site.binance.auth import KeyAuthenticator, SigningKey
from exchange_site.binance.db import db_call
from exchange_site.binance.signing import signature_check
from exchange_site.errors import InvalidInput

from .models import ApiKey
from .services import api_key_secret, ip_allowlist_parse

log = structlog.get_logger(__name__)

# Keys are issued as 64 url-safe characters (services.api_key_issue).
KEY_RE = re.compile(r"^[A-Za-z0-9_-]{64}$")
CACHE_MAX_ENTRIES = 10_000
LAST_USED_EVERY_S = 60.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    user_id: int
    secret: bytes
    can_read: bool
    can_trade: bool
    can_withdraw: bool
    active: bool  # key enabled and its user active
    tier: str
    # None: any address; otherwise the allowed networks (an empty tuple allows nothing: the
    # stored list could not be parsed, and failing closed is the safe reading).
    networks: tuple[Network, ...] | None

    def ip_allowed(self, ip: str) -> bool:
        if self.networks is None:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def signature_check(self, *, query: bytes, body: bytes, signature: str) -> None:
        """Raise -1022 unless `signature` is the HMAC-SHA256 of the request's raw payload with
        this key's secret (exchange_site.binance.signing: payload rules, constant time)."""
        signature_check(secret=self.secret, query=query, body=body, signature=signature)


_cache: dict[str, tuple[float, KeyInfo | None]] = {}
_last_used_written: dict[int, float] = {}
# Look-ups per second of keys not in the cache, for requests over their address's IP limit.
UNSEEN_LOOKUPS_PER_S = 10.0
_unseen_budget: list[float] = [UNSEEN_LOOKUPS_PER_S, 0.0]  # [tokens, monotonic time]


def key_cache_clear() -> None:
    """Forget every cached key (tests; an operator action could call it too)."""
    _cache.clear()
    _last_used_written.clear()
    _unseen_budget[:] = [UNSEEN_LOOKUPS_PER_S, time.monotonic()]


def _load(key: str) -> KeyInfo | None:
    row = ApiKey.objects.select_related("user").filter(key=key).first()
    if row is None:
        return None
    networks: tuple[Network, ...] | None = None
    if row.ip_allowlist.strip():
        try:
            networks = tuple(ip_allowlist_parse(row.ip_allowlist))
        except InvalidInput:
            log.warning("api_key_bad_ip_allowlist", api_key_id=row.pk)
            networks = ()
    return KeyInfo(
        id=row.pk,
        user_id=row.user_id,
        secret=api_key_secret(row).encode(),
        can_read=row.can_read,
        can_trade=row.can_trade,
        can_withdraw=row.can_withdraw,
        active=row.enabled and row.user.is_active,
        tier=row.tier,
        networks=networks,
    )


def key_cached(key: str) -> bool:
    """Whether this process has the key in its cache (fresh or not)."""
    return key in _cache


def _unseen_lookup_allowed(now: float) -> bool:
    """A token of the per-process budget for looking up keys not in the cache on behalf of
    addresses over their IP limit (UNSEEN_LOOKUPS_PER_S, bursts of as many)."""
    tokens, last = _unseen_budget
    tokens = min(UNSEEN_LOOKUPS_PER_S, tokens + (now - last) * UNSEEN_LOOKUPS_PER_S)
    allowed = tokens >= 1
    _unseen_budget[:] = [tokens - 1 if allowed else tokens, now]
    return allowed


async def key_lookup(key: str, *, over_ip_limit: bool = False) -> KeyInfo | None:
    """The key's info, from the cache when fresh; None when no such key exists. For a request
    from an address over its IP limit (`over_ip_limit`), a key this process has never cached
    is looked up only within a small per-process budget, else taken as unknown without a
    query: a flood of made-up keys costs the database nothing, while a genuine key of a
    higher tier still gets through to lift its address's ceiling."""
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    if over_ip_limit and hit is None and not _unseen_lookup_allowed(now):
        return None
    info = await db_call(_load, key)
    if len(_cache) >= CACHE_MAX_ENTRIES:
        _cache.clear()  # crude but bounded: a refill costs one query per live key
    _cache[key] = (now + settings.API_KEY_CACHE_TTL, info)
    return info


def key_header_check(header: str | None) -> str:
    """The key from the X-MBX-APIKEY header; -2014 when missing or malformed."""
    if not header or not KEY_RE.fullmatch(header):
        raise errors.key_format()
    return header


def key_authorize(
    info: KeyInfo | None, *, ip: str, need_trade: bool, need_withdraw: bool = False
) -> KeyInfo:
    """-2015 for an unknown or disabled key, an address outside its allow-list, or a missing
    permission (USER_DATA needs read, TRADE needs trade, WITHDRAW needs withdraw)."""
    if info is None or not info.active or not info.ip_allowed(ip):
        raise errors.key_rejected()
    if not (info.can_trade if need_trade else info.can_read):
        raise errors.key_rejected()
    if need_withdraw and not info.can_withdraw:
        raise errors.key_rejected()
    return info


def _touch(key_id: int) -> None:
    now = timezone.now()
    cutoff = now - timedelta(seconds=LAST_USED_EVERY_S)
    # The filter keeps several web processes from rewriting the row within the same minute.
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff), pk=key_id
    ).update(last_used_at=now)


async def key_mark_used(info: SigningKey) -> None:
    """Record use in ApiKey.last_used_at, at most once a minute per key and process."""
    now = time.monotonic()
    last = _last_used_written.get(info.id)
    if last is not None and now - last < LAST_USED_EVERY_S:
        return
    _last_used_written[info.id] = now
    if len(_last_used_written) > CACHE_MAX_ENTRIES:
        _last_used_written.clear()
    await db_call(_touch, info.id)


class ApiKeyAuthenticator(KeyAuthenticator):
    """Authenticates SIGNED API requests with the keys of the ApiKey table."""

    async def authorize(
        self,
        header: str | None,
        *,
        ip: str,
        need_trade: bool,
        need_withdraw: bool = False,
        over_ip_limit: bool = False,
    ) -> KeyInfo:
        return key_authorize(
            await key_lookup(key_header_check(header), over_ip_limit=over_ip_limit),
            ip=ip,
            need_trade=need_trade,
            need_withdraw=need_withdraw,
        )

    async def mark_used(self, key: SigningKey) -> None:
        await key_mark_used(key)
