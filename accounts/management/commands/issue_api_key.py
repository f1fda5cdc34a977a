from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from accounts.models import User
from accounts.services import api_key_issue
from exchange_site.commands import JsonCommand


class Command(JsonCommand):
    help = 'Issue an API key for USERNAME; prints {"api_key": ..., "secret": ...}.'

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--permissions", default="read,trade", help="comma list of read,trade,withdraw"
        )
        parser.add_argument("--label", default="")
        parser.add_argument("--ip-allowlist", default="")

    def handle(self, *args: Any, **o: Any) -> None:
        user = User.objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f'{{"error": "unknown user {o["username"]}"}}')
        perms = [p.strip() for p in o["permissions"].split(",") if p.strip()]
        api_key, secret = api_key_issue(
            user=user, permissions=perms, label=o["label"], ip_allowlist=o["ip_allowlist"]
        )
        self.emit({"api_key": api_key.key, "secret": secret, "permissions": api_key.permissions})
