"""The demo accounts of `make run` (scripts/demo.sh), with their credentials kept in a file.

Run on every `make run`, so it must not churn: a password or API key stored in the file that
still verifies against the database is kept. A password that does not (no file, a hand-edited
file, a password changed since) is replaced by a new one; a demo key that does not (unknown,
disabled, another secret, other permissions) is replaced, and every other enabled demo key of
that user is revoked: one enabled demo key per trader, the one in the file, so no key printed by
an earlier run stays usable unseen.
"""

from __future__ import annotations

import json
import os
import secrets
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Q

from accounts.models import ApiKey, User
from accounts.services import api_key_issue, api_key_secret, api_key_set_enabled, user_create
from admin_rbac.services import Actor, role_names, roles_assign
from exchange_site.commands import JsonCommand

DEMO_LABEL = "demo"
TRADERS = {"alice": ("read", "trade", "withdraw"), "bob": ("read", "trade")}
OPERATOR_ROLES = {"operator": "superadmin"} | {
    f"op-{role}": role for role in ("viewer", "support", "finance", "risk")
}


def _permissions(key: ApiKey) -> tuple[str, ...]:
    flags = (("read", key.can_read), ("trade", key.can_trade), ("withdraw", key.can_withdraw))
    return tuple(name for name, on in flags if on)


def _key_verifies(user: User, entry: dict[str, Any], perms: tuple[str, ...]) -> bool:
    key = ApiKey.objects.filter(user=user, key=entry.get("api_key") or "", enabled=True).first()
    if key is None or _permissions(key) != perms:
        return False
    try:
        return secrets.compare_digest(api_key_secret(key), str(entry.get("secret") or ""))
    except Exception:
        return False


class Command(JsonCommand):
    help = "Create or refresh the demo accounts; keep what still verifies. Prints a JSON summary."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--path", default=".demo-credentials.json")

    def handle(self, *args: Any, **o: Any) -> None:
        path = Path(o["path"])
        try:
            creds: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            creds = {}
        summary: dict[str, list[str]] = {"kept": [], "new_password": [], "new_key": []}
        revoked = 0
        actor = Actor.system("demo")

        for name in [*OPERATOR_ROLES, *TRADERS]:
            entry = dict(creds.get(name) or {})
            user = User.objects.filter(username=name).first()
            if user is None:
                user = user_create(
                    username=name, password=None, email=f"{name}@example.com",
                    is_staff=name in OPERATOR_ROLES,
                )  # fmt: skip
            if name == "operator" and not user.is_superuser:
                User.objects.filter(pk=user.pk).update(is_superuser=True, is_staff=True)
            password = str(entry.get("password") or "")
            if password and user.check_password(password):
                summary["kept"].append(name)
            else:
                password = secrets.token_urlsafe(12)
                with transaction.atomic(durable=True):
                    user.set_password(password)
                    user.save(update_fields=["password"])
                summary["new_password"].append(name)
            entry.update(username=name, password=password)

            if name in OPERATOR_ROLES:
                role = OPERATOR_ROLES[name]
                if role_names(user) != [role]:
                    roles_assign(user=user, roles=[role], actor=actor, reason="demo data")
                if name != "operator":
                    entry["role"] = role
            else:
                perms = TRADERS[name]
                if not _key_verifies(user, entry, perms):
                    key, secret = api_key_issue(user=user, permissions=perms, label=DEMO_LABEL)
                    entry.update(api_key=key.key, secret=secret, permissions=list(perms))
                    summary["new_key"].append(name)
                # One usable demo key per trader: the one in the file.
                stale = ApiKey.objects.filter(
                    Q(label=DEMO_LABEL) | Q(key=creds.get(name, {}).get("api_key") or ""),
                    user=user,
                    enabled=True,
                ).exclude(key=entry["api_key"])
                for old in stale:
                    api_key_set_enabled(api_key=old, enabled=False)
                    revoked += 1
            creds[name] = entry

        path.write_text(json.dumps(creds, indent=2))
        os.chmod(path, 0o600)
        self.emit({**summary, "revoked_keys": revoked, "path": str(path)})
