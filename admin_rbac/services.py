"""Audit records and operator roles.

`audit_record` is the one way an operator action is written to the audit log. Call it inside
the transaction of the action it records, so that both commit or neither does:

    @transaction.atomic(durable=True)
    def withdrawal_approve(*, withdrawal_id: int, actor: Actor, reason: str = "") -> Withdrawal:
        w = Withdrawal.objects.select_for_update().get(pk=withdrawal_id)
        before = audit_snapshot(w, fields=("status",))
        ...  # the change
        audit_record(actor=actor, action="withdrawal.approve", target=w, before=before,
                     after=audit_snapshot(w, fields=("status",)), reason=reason)
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from django.contrib.auth.models import Group
from django.db import models, transaction
from django.http import HttpRequest

from accounts.models import User
from exchange_site.errors import InvalidInput

from .models import AuditEntry
from .roles import ROLES


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an action and from where: an operator (from a request) or the system."""

    user_id: int | None
    name: str
    ip: str | None = None

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        user = request.user
        ip = request.META.get("REMOTE_ADDR") or None
        if user.is_authenticated:
            return cls(user.pk, user.get_username(), ip)
        return cls(None, "anonymous", ip)

    @classmethod
    def of_user(cls, user: User, ip: str | None = None) -> Actor:
        return cls(user.pk, user.get_username(), ip)

    @classmethod
    def system(cls, component: str) -> Actor:
        """An automatic actor, e.g. Actor.system("circuit_breaker")."""
        return cls(None, f"system:{component}")


def _plain(value: Any) -> Any:
    """A JSON-safe, stable form of a field value (Decimals as plain strings, never floats)."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, bytes | memoryview):
        return "<binary>"
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def audit_snapshot(obj: models.Model, *, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audit view of a row: concrete fields (foreign keys as ids) and, once saved, its
    many-to-many fields as sorted id lists. Binary fields (secrets) are masked."""
    wanted = set(fields) if fields is not None else None
    snapshot: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if wanted is not None and f.name not in wanted:
            continue
        if f.name == "password":
            continue  # never a password hash in the log (a change shows as "password changed")
        snapshot[f.name] = _plain(f.value_from_object(obj))
    if obj.pk is not None:
        for m2m in obj._meta.many_to_many:
            if wanted is not None and m2m.name not in wanted:
                continue
            snapshot[m2m.name] = sorted(getattr(obj, m2m.name).values_list("pk", flat=True))
    return snapshot


def audit_diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Keep only the keys whose values differ (all of them when one side is missing)."""
    if before is None or after is None:
        return (dict(before) if before is not None else None), (
            dict(after) if after is not None else None
        )
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _subject_user_id(target: models.Model | None) -> int | None:
    if target is None:
        return None
    if isinstance(target, User):
        return target.pk
    user_id = getattr(target, "user_id", None)
    return user_id if isinstance(user_id, int) else None


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
    subject_user_id: int | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    target_repr: str | None = None,
) -> AuditEntry:
    """Append one audit entry. Runs inside the caller's transaction (opens none; raises
    RuntimeError outside one), so the entry commits with the action or not at all.

    `action` is "<entity>.<verb>" ("market.set_status", "withdrawal.approve"). `target` is the
    row acted on (or give target_type/target_id/target_repr for something that is not a row,
    e.g. the global trading state). `before`/`after` are JSON-safe mappings, typically from
    audit_snapshot; Decimals and datetimes are converted. `subject_user_id` is the trader the
    action concerns; by default the target itself when it is a user, else its `user_id`.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the action's transaction")
    if target is not None:
        meta = target._meta
        target_type = target_type or f"{meta.app_label}.{meta.model_name}"
        target_id = target_id if target_id is not None else str(target.pk)
        target_repr = target_repr if target_repr is not None else str(target)
    return AuditEntry.objects.create(
        actor_id=actor.user_id,
        actor_name=actor.name[:150],
        action=action,
        target_type=target_type or "",
        target_id=target_id or "",
        target_repr=(target_repr or "")[:200],
        subject_user_id=subject_user_id
        if subject_user_id is not None
        else _subject_user_id(target),
        before=_plain(before) if before is not None else None,
        after=_plain(after) if after is not None else None,
        reason=reason,
        ip=actor.ip,
    )


# --------------------------------------------------------------------------- roles


@transaction.atomic(durable=True)
def roles_assign(*, user: User, roles: Iterable[str], actor: Actor, reason: str = "") -> User:
    """Make `roles` the operator roles of `user` (an empty set revokes them all); a user with a
    role is staff (may log in to the admin). Locks the user row; commits with the audit entry.
    """
    wanted = sorted(set(roles))
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise InvalidInput(f"unknown role {', '.join(unknown)}; roles: {', '.join(ROLES)}")
    user = User.objects.select_for_update().get(pk=user.pk)
    before = {"roles": role_names(user), "is_staff": user.is_staff}
    groups = list(Group.objects.filter(name__in=wanted))
    if len(groups) != len(wanted):
        raise InvalidInput("roles are not set up: run `manage.py migrate`")
    other = user.groups.exclude(name__in=ROLES)  # groups that are not roles stay
    user.groups.set([*other, *groups])
    if wanted and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    audit_record(
        actor=actor, action="user.assign_roles", target=user, before=before,
        after={"roles": wanted, "is_staff": user.is_staff}, reason=reason,
    )  # fmt: skip
    return user


def role_names(user: User) -> list[str]:
    return sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


__all__ = [
    "Actor",
    "audit_diff",
    "audit_record",
    "audit_snapshot",
    "role_names",
    "roles_assign",
]
