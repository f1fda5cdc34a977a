from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from accounts.models import User
from admin_rbac.roles import ROLES
from admin_rbac.services import Actor, role_names, roles_assign
from exchange_site.commands import JsonCommand
from exchange_site.errors import InvalidInput


class Command(JsonCommand):
    help = (
        "Set an operator's roles (replacing the ones held): "
        f"{', '.join(ROLES)}; `none` revokes all. Prints the user's roles as JSON."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("roles", nargs="+", metavar="ROLE")
        parser.add_argument("--reason", default="", help="recorded in the audit log")

    def handle(self, *args: Any, **o: Any) -> None:
        user = User.objects.filter(username=o["username"]).first()
        if user is None:
            raise InvalidInput(f"no user {o['username']!r}")
        roles = [] if o["roles"] == ["none"] else o["roles"]
        user = roles_assign(user=user, roles=roles, actor=Actor.system("cli"), reason=o["reason"])
        self.emit({"username": user.username, "roles": role_names(user), "is_staff": user.is_staff})
