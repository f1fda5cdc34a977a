from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from exchange_site.commands import JsonCommand
from wallet.chain.simulated import sim_chains, sim_mine


class Command(JsonCommand):
    help = (
        "SIMULATED CHAIN: mine N blocks (default 1) on every simulated chain (or --chain);"
        " the mempool goes into the first. The chain watcher then credits deposits and"
        " confirms withdrawals that reached their confirmations."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("blocks", nargs="?", type=int, default=1)
        parser.add_argument("--chain")

    def handle(self, *args: Any, **o: Any) -> None:
        chains = [o["chain"]] if o["chain"] else sim_chains()
        mined = {}
        for chain in chains:
            height, included = sim_mine(chain=chain, blocks=o["blocks"])
            mined[chain] = {"height": height, "included": included}
        self.emit({"simulated": True, "chains": mined})
