from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from exchange_site.commands import JsonCommand, decimal_arg
from wallet.chain import ChainError
from wallet.chain.simulated import sim_pay
from wallet.models import DepositAddress, Network


class Command(JsonCommand):
    help = (
        "SIMULATED CHAIN: pay AMOUNT of ASSET to ADDRESS (a mempool transaction; mine blocks"
        " with chain_mine for confirmations). The network is the address's own when it is a"
        " deposit address here, else --network."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("asset")
        parser.add_argument("address")
        parser.add_argument("amount", type=decimal_arg)
        parser.add_argument("--network", help="chain code (default: the address's network)")
        parser.add_argument("--tag", default="")

    def handle(self, *args: Any, **o: Any) -> None:
        chain = o["network"]
        if chain is None:
            owned = (
                DepositAddress.objects.filter(address=o["address"], network__asset__code=o["asset"])
                .select_related("network")
                .first()
            )
            if owned is None:
                raise CommandError('{"error": "not a deposit address here: pass --network"}')
            chain = owned.network.code
        network = Network.objects.filter(asset__code=o["asset"], code=chain).first()
        if network is None or not network.simulated:
            raise CommandError(f'{{"error": "no simulated network {chain} for {o["asset"]}"}}')
        try:
            txid = sim_pay(
                chain=chain,
                asset=o["asset"],
                address=o["address"],
                amount=o["amount"],
                tag=o["tag"],
            )
        except ChainError as exc:
            raise CommandError(f'{{"error": "{exc}"}}') from exc
        self.emit(
            {"simulated": True, "chain": chain, "txid": txid, "vout": 0, "amount": o["amount"]}
        )
