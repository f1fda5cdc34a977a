"""Engine commands that no order row can recreate, persisted for recovery (docs/architecture.md,
"Recovery").

Places and cancels are recreated from their order rows (PENDING_NEW, cancel_requested_at).
Amends, market-state changes and cancel-alls are recorded here by the service that requests
them, in its own transaction; the matcher marks each applied in its batch transaction, and the
stream sweep re-enqueues the ones still unapplied after a Redis loss.
"""

from __future__ import annotations

import secrets

from matching.engine.commands import Command
from matching.models import EngineRequest
from matching.stream import command_encode


def engine_request_record(*, market_id: int, cmd: Command, rid: str | None = None) -> str:
    """Persist `cmd` (with the verdict request id `rid`, if any) and return its request key,
    which travels with the stream entry (field `q`). Runs in the caller's transaction."""
    key = secrets.token_hex(12)
    EngineRequest.objects.create(market_id=market_id, rid=key, body=command_encode(cmd, rid))
    return key
