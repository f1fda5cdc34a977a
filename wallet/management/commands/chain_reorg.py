from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError

from exchange_site.commands import JsonCommand
from wallet.chain.simulated import sim_reorg


class Command(JsonCommand):
    help = "SIMULATED CHAIN: drop transaction TXID from CHAIN, as a reorg would."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("chain")
        parser.add_argument("txid")

    def handle(self, *args: Any, **o: Any) -> None:
        dropped = sim_reorg(chain=o["chain"], txid=o["txid"])
        if not dropped:
            raise CommandError('{"error": "no such transaction on the chain"}')
        self.emit({"simulated": True, "chain": o["chain"], "txid": o["txid"], "dropped": dropped})
