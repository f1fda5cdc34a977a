from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from accounts.models import User
from exchange_site.commands import JsonCommand
from wallet.services.networks import deposit_address_get_or_create


class Command(JsonCommand):
    help = "Print USERNAME's deposit address for ASSET (made on first request)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("asset")
        parser.add_argument("--network")

    def handle(self, *args: Any, **o: Any) -> None:
        user = User.objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f'{{"error": "unknown user {o["username"]}"}}')
        row = deposit_address_get_or_create(user_id=user.pk, coin=o["asset"], network=o["network"])
        self.emit(
            {"username": user.username, "asset": o["asset"], "network": row.network.code,
             "address": row.address, "tag": row.tag, "simulated": row.network.simulated}
        )  # fmt: skip
