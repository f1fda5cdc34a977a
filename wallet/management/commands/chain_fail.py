from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from exchange_site.commands import JsonCommand
from wallet.chain.simulated import sim_fail_mode_set


class Command(JsonCommand):
    help = (
        "SIMULATED CHAIN: make CHAIN's node fail sends, for drills: retryable (node"
        " unavailable: withdrawals retry, then wait for an operator), final (sends refused:"
        " withdrawals fail and their funds are released), off."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("chain")
        parser.add_argument("--mode", choices=["retryable", "final", "off"], required=True)

    def handle(self, *args: Any, **o: Any) -> None:
        mode = "" if o["mode"] == "off" else o["mode"]
        sim_fail_mode_set(chain=o["chain"], mode=mode)
        self.emit({"simulated": True, "chain": o["chain"], "fail_mode": o["mode"]})
