from __future__ import annotations

from argparse import ArgumentParser
from decimal import Decimal
from typing import Any

from exchange_site.commands import JsonCommand, decimal_arg
from wallet.services.networks import network_upsert


class Command(JsonCommand):
    help = (
        "Create network CODE (a simulated chain) for ASSET unless it exists; print it."
        " Review policy: --auto-approve-below (verified users), --dual-approval-above."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("asset")
        parser.add_argument("code")
        parser.add_argument("--name", default="")
        parser.add_argument("--fee", type=decimal_arg, default=Decimal(0))
        parser.add_argument("--min", type=decimal_arg, default=Decimal(0))
        parser.add_argument("--max", type=decimal_arg, default=Decimal(1_000_000))
        parser.add_argument("--confirmations", type=int, default=1)
        parser.add_argument("--auto-approve-below", type=decimal_arg, default=Decimal(0))
        parser.add_argument("--dual-approval-above", type=decimal_arg, default=Decimal(1_000_000))

    def handle(self, *args: Any, **o: Any) -> None:
        network, created = network_upsert(
            coin=o["asset"], code=o["code"], name=o["name"], withdraw_fee=o["fee"],
            withdraw_min=o["min"], withdraw_max=o["max"], min_confirmations=o["confirmations"],
            auto_approve_below=o["auto_approve_below"],
            dual_approval_above=o["dual_approval_above"],
        )  # fmt: skip
        self.emit(
            {
                "asset": network.asset.code, "network": network.code, "name": network.name,
                "backend": network.backend, "created": created, "fee": network.withdraw_fee,
                "min_confirmations": network.min_confirmations,
            }
        )  # fmt: skip
