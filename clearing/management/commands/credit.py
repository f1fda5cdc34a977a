from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from accounts.models import User
from clearing.selectors import balance_get
from clearing.services import balance_credit_external
from exchange_site.commands import JsonCommand, decimal_arg
from exchange_site.money import quantize_down
from wallet.models import Asset


class Command(JsonCommand):
    help = "Credit USERNAME with AMOUNT of ASSET from the external account, once per --ref."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("asset")
        parser.add_argument("amount", type=decimal_arg)
        parser.add_argument("--ref", required=True, help="idempotency reference")

    def handle(self, *args: Any, **o: Any) -> None:
        user = User.objects.filter(username=o["username"]).first()
        if user is None:
            raise CommandError(f'{{"error": "unknown user {o["username"]}"}}')
        asset = Asset.objects.filter(code=o["asset"]).first()
        if asset is None:
            raise CommandError(f'{{"error": "unknown asset {o["asset"]}"}}')
        amount = o["amount"]
        if quantize_down(amount, asset.precision) != amount:
            raise CommandError(f'{{"error": "amount has more than {asset.precision} decimals"}}')
        applied = balance_credit_external(
            user_id=user.pk, asset_id=asset.pk, amount=amount, ref=o["ref"]
        )
        balance = balance_get(user_id=user.pk, asset_id=asset.pk)
        self.emit(
            {
                "username": user.username,
                "asset": asset.code,
                "applied": applied,
                "available": balance.available.normalize(),
                "locked": balance.locked.normalize(),
            }
        )
