"""Operator roles: Django groups whose permissions are defined here, nowhere else.

Each role is a list of permission patterns "<app_label>.<codename>" matched with fnmatch
against the permissions that exist, so a new model's permissions join a role by name (the
wallet's `wallet.approve_withdrawal` joins `finance` through "wallet.*withdrawal*").
`roles_sync` makes every role group hold exactly the matching permissions; it runs after every
`migrate` (post_migrate), so adding a permission pattern or a model takes a migrate, nothing
more. docs/back-office.md has the matrix.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from django.contrib.auth.models import Group, Permission

# The apps operators look at; viewers read all of them.
OPERATOR_APPS = ("accounts", "wallet", "clearing", "orders", "matching", "admin_rbac", "auth")
VIEW = (*(f"{app}.view_*" for app in OPERATOR_APPS), "admin_rbac.view_dashboard")

ROLES: dict[str, tuple[str, ...]] = {
    "viewer": VIEW,
    # Disables users and API keys, cancels a user's orders.
    "support": (
        *VIEW,
        "accounts.disable_user",
        "accounts.disable_apikey",
        "orders.cancel_user_orders",
    ),
    # Deposits, withdrawals (the wallet's review permissions) and manual adjustments.
    "finance": (
        *VIEW,
        "clearing.propose_adjustment",
        "clearing.approve_adjustment",
        "wallet.*withdrawal*",
        "wallet.*deposit*",
    ),
    # The kill switch, markets (and their assets), risk limits, fees.
    "risk": (
        *VIEW,
        "orders.operate_kill_switch",
        "orders.add_market",
        "orders.change_market",
        "orders.change_market_risk",
        "orders.change_market_fees",
        "orders.change_market_engine_fields",
        "wallet.add_asset",
        "wallet.change_asset",
    ),
    # Everything, role assignment included.
    "superadmin": ("*.*",),
}


def role_permissions(role: str, permissions: list[tuple[str, Permission]]) -> list[Permission]:
    """The permissions among `permissions` ((label, permission) pairs) that `role` grants."""
    patterns = ROLES[role]
    return [p for label, p in permissions if any(fnmatchcase(label, pat) for pat in patterns)]


def roles_sync(*, sender: Any = None, **_: Any) -> None:
    """Create the role groups and give each exactly its permissions. Idempotent.

    A post_migrate receiver: post_migrate is sent once per app, after that app's permissions
    are created, so the sync runs on the last app's signal, when every permission exists.
    """
    from django.apps import apps

    last = [a for a in apps.get_app_configs() if a.models_module is not None][-1]
    if sender is not None and sender.label != last.label:
        return
    perms = [
        (f"{p.content_type.app_label}.{p.codename}", p)
        for p in Permission.objects.select_related("content_type")
    ]
    for role in ROLES:
        group = Group.objects.get_or_create(name=role)[0]
        group.permissions.set(role_permissions(role, perms))
