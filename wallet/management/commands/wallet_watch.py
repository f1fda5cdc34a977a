from __future__ import annotations

from typing import Any

from exchange_site.commands import JsonCommand
from wallet.tasks import chain_watch


class Command(JsonCommand):
    help = "Run the chain watcher once, here (what the beat task wallet.chain_watch does)."

    def handle(self, *args: Any, **o: Any) -> None:
        self.emit({"checked": chain_watch()})
