"""Users and API keys."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import transaction

from admin_rbac.services import Actor, audit_record
from exchange_site.clientip import Network, NotANetwork, networks_parse
from exchange_site.errors import DomainError, InvalidInput
from exchange_site.redis import get_redis
from userdata.publish import publish_quietly, user_control_publish

from .models import ApiKey, User

API_KEY_PERMISSIONS = ("read", "trade", "withdraw")


def _fernet() -> Fernet:
    return Fernet(settings.API_KEY_ENCRYPTION_KEY.encode())


@transaction.atomic(durable=True)
def user_create(
    *, username: str, password: str | None, email: str = "", is_staff: bool = False
) -> User:
    """Create a user (unusable password when none is given). Commits."""
    if User.objects.filter(username=username).exists():
        raise InvalidInput(f"user {username!r} already exists")
    user = User(username=username, email=email, is_staff=is_staff)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    return user


def ip_allowlist_parse(raw: str) -> list[Network]:
    """Parse 'a.b.c.d, net/len, ...'; raise InvalidInput on anything else."""
    try:
        return list(networks_parse(raw))
    except NotANetwork as exc:
        raise InvalidInput(f"invalid IP or network {exc.text!r}") from exc


@transaction.atomic(durable=True)
def api_key_issue(
    *,
    user: User,
    permissions: Iterable[str] = ("read", "trade"),
    label: str = "",
    ip_allowlist: str = "",
) -> tuple[ApiKey, str]:
    """Create an API key; return it with its secret, which is never retrievable in plain again
    through the UI. Commits."""
    perms = set(permissions)
    unknown = perms - set(API_KEY_PERMISSIONS)
    if unknown:
        raise InvalidInput(f"unknown permissions: {', '.join(sorted(unknown))}")
    ip_allowlist_parse(ip_allowlist)
    secret = secrets.token_urlsafe(48)[:64]
    api_key = ApiKey.objects.create(
        user=user,
        label=label,
        key=secrets.token_urlsafe(48)[:64],
        secret_encrypted=_fernet().encrypt(secret.encode()),
        can_read="read" in perms,
        can_trade="trade" in perms,
        can_withdraw="withdraw" in perms,
        ip_allowlist=ip_allowlist,
    )
    return api_key, secret


def api_key_secret(api_key: ApiKey) -> str:
    """The plain secret, for HMAC verification."""
    return _fernet().decrypt(bytes(api_key.secret_encrypted)).decode()


@transaction.atomic(durable=True)
def api_key_set_enabled(*, api_key: ApiKey, enabled: bool) -> ApiKey:
    """Enable or disable a key; disabling ends its user data streams after commit."""
    api_key.enabled = enabled
    api_key.save(update_fields=["enabled"])
    if not enabled:
        _streams_end_after_commit([(api_key.user_id, api_key.pk)])
    return api_key


def _streams_end_after_commit(keys: Iterable[tuple[int, int]]) -> None:
    """Tell the open user data streams of these (user id, API key id) that their key is off
    (they send eventStreamTerminated and end), once the change is committed."""
    keys = list(keys)
    if not keys:
        return

    def publish() -> None:
        client = get_redis()
        for user_id, key_id in keys:
            user_control_publish(client, user_id, {"ctl": "key_off", "key": key_id})

    transaction.on_commit(lambda: publish_quietly(publish), robust=True)


def _own_key(user_id: int, key_id: int) -> ApiKey:
    api_key = ApiKey.objects.select_for_update().filter(pk=key_id, user_id=user_id).first()
    if api_key is None:
        raise DomainError("No such API key.", code=-2015, http_status=404)
    return api_key


@transaction.atomic(durable=True)
def api_key_owner_set_enabled(*, user_id: int, key_id: int, enabled: bool) -> ApiKey:
    """The owner disables or re-enables one of their keys (effective within
    API_KEY_CACHE_TTL in every web process). Someone else's key is unknown. Commits."""
    api_key = _own_key(user_id, key_id)
    api_key.enabled = enabled
    api_key.save(update_fields=["enabled"])
    if not enabled:
        _streams_end_after_commit([(user_id, api_key.pk)])
    return api_key


@transaction.atomic(durable=True)
def api_key_owner_delete(*, user_id: int, key_id: int) -> None:
    """The owner deletes one of their keys for good (refused within API_KEY_CACHE_TTL, as a
    disabled key). Someone else's key is unknown. Commits."""
    api_key = _own_key(user_id, key_id)
    _streams_end_after_commit([(user_id, api_key.pk)])
    api_key.delete()


# --------------------------------------------------------------------------- operators (support)


def _set_flag(
    model: type[User] | type[ApiKey], ids: Iterable[int], field: str, value: bool, action: str,
    actor: Actor, reason: str,
) -> int:  # fmt: skip
    """Set a boolean field on the rows that differ, locked by id; one audit entry per row."""
    if not reason.strip():
        raise InvalidInput("a reason is required")
    rows = list(
        model.objects.select_for_update()
        .filter(pk__in=list(ids))
        .exclude(**{field: value})
        .order_by("id")
    )
    for row in rows:
        setattr(row, field, value)
        row.save(update_fields=[field])
        audit_record(
            actor=actor, action=action, target=row, before={field: not value},
            after={field: value}, reason=reason,
        )  # fmt: skip
    return len(rows)


@transaction.atomic(durable=True)
def users_set_active(*, user_ids: Iterable[int], active: bool, actor: Actor, reason: str) -> int:
    """Enable or disable users (a disabled user can neither log in nor use an API key: the key
    lookup checks the user, within API_KEY_CACHE_TTL). One audit entry per user changed.
    Returns how many changed."""
    action = "user.enable" if active else "user.disable"
    user_ids = list(user_ids)
    changed = _set_flag(User, user_ids, "is_active", active, action, actor, reason)
    if not active:
        _streams_end_after_commit(
            ApiKey.objects.filter(user_id__in=user_ids).values_list("user_id", "pk")
        )
    return changed


@transaction.atomic(durable=True)
def api_keys_set_enabled(
    *, key_ids: Iterable[int], enabled: bool, actor: Actor, reason: str
) -> int:
    """Enable or disable API keys (effective within API_KEY_CACHE_TTL). One audit entry per key
    changed. Returns how many changed."""
    action = "apikey.enable" if enabled else "apikey.disable"
    key_ids = list(key_ids)
    changed = _set_flag(ApiKey, key_ids, "enabled", enabled, action, actor, reason)
    if not enabled:
        _streams_end_after_commit(
            ApiKey.objects.filter(pk__in=key_ids).values_list("user_id", "pk")
        )
    return changed
