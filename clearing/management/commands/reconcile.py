from __future__ import annotations

import sys
from typing import Any

from django.utils import timezone

from clearing.invariants import ledger_check_invariants, ledger_summary
from clearing.models import ReconcileRun
from exchange_site.commands import JsonCommand


class Command(JsonCommand):
    help = "Check every money invariant; print a JSON report; exit 1 if any is broken."

    def handle(self, *args: Any, **o: Any) -> None:
        problems = ledger_check_invariants()
        ReconcileRun.objects.create(problems=len(problems), details=problems[:50])
        self.emit(
            {
                "ok": not problems,
                "problems": problems,
                "checked_at": timezone.now().isoformat(),
                **ledger_summary(),
            }
        )
        if problems:
            sys.exit(1)
