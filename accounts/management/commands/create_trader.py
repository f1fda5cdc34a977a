from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from accounts.models import User
from accounts.services import user_create
from exchange_site.commands import JsonCommand


class Command(JsonCommand):
    help = 'Create a trader account; prints {"id", "username"} as JSON.'

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--password")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--if-missing", action="store_true", help="succeed quietly if it exists"
        )

    def handle(self, *args: Any, **o: Any) -> None:
        user = User.objects.filter(username=o["username"]).first()
        if user is None or not o["if_missing"]:
            user = user_create(username=o["username"], password=o["password"], email=o["email"])
        self.emit({"id": user.pk, "username": user.username})
