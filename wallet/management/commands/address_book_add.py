from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from accounts.models import User
from exchange_site.commands import JsonCommand
from wallet.services.addressbook import address_book_add


class Command(JsonCommand):
    help = (
        "Operator: add ADDRESS to USERNAME's withdrawal address book for ASSET."
        " --cooldown-hours overrides the cool-down (e.g. 0 for the demo)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("asset")
        parser.add_argument("address")
        parser.add_argument("--network")
        parser.add_argument("--label", default="")
        parser.add_argument("--cooldown-hours", type=float)

    def handle(self, *args: Any, **o: Any) -> None:
        user = User.objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f'{{"error": "unknown user {o["username"]}"}}')
        hours = o["cooldown_hours"]
        entry = address_book_add(
            user_id=user.pk, coin=o["asset"], address=o["address"], network=o["network"],
            label=o["label"], cooldown_s=None if hours is None else hours * 3600,
            totp_check=False,
        )  # fmt: skip
        self.emit(
            {"username": user.username, "asset": o["asset"], "network": entry.network.code,
             "address": entry.address, "usable_at": entry.usable_at.isoformat()}
        )  # fmt: skip
