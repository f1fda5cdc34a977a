"""The balance events of the user data streams (contract 7.4), published after the commit
that moved the money: `outboundAccountPosition` (free and locked of every asset that changed,
one event per user per transaction or settlement batch) and, for movements from or to the
outside (deposits, withdrawals, operator adjustments), `balanceUpdate` first with the change of
the free balance.

Only for users with an open stream (one PUBSUB NUMSUB); for them one query reads the balances
as committed. Two commits of one user racing within microseconds may publish their positions
in either order: the REST account is the reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection

from exchange_site.money import fmt
from exchange_site.redis import get_redis
from userdata.events import account_position, balance_update
from userdata.publish import listening_users, user_events_publish

# Ledger transaction kinds that are a balanceUpdate on Binance (money from or to the outside,
# or an operator's correction); the free balance's change is its delta.
BALANCE_UPDATE_KINDS = frozenset(
    {
        "deposit",
        "deposit_reversal",
        "withdrawal_hold",
        "withdrawal_release",
        "withdrawal_refund",
        "adjustment",
    }
)


def balances_announce(
    *,
    pairs: Iterable[tuple[int, int]],
    at_ms: int,
    updates: Sequence[tuple[int, int, Decimal]] = (),
) -> int:
    """Publish the positions of the (user id, asset id) pairs, preceded by the balanceUpdates
    (user id, asset id, change of free); returns the events published. Call after commit."""
    client = get_redis()
    wanted_pairs = set(pairs)
    listening = listening_users(client, {u for u, _ in wanted_pairs})
    if not listening:
        return 0
    wanted = sorted((u, a) for u, a in wanted_pairs if u in listening)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT a.user_id, s.id, s.code, s.precision, a.kind, a.balance"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS w(u, s)"
            " JOIN clearing_ledgeraccount a ON a.user_id = w.u AND a.asset_id = w.s"
            " JOIN wallet_asset s ON s.id = a.asset_id"
            " WHERE a.kind IN ('AVAILABLE', 'LOCKED') ORDER BY a.user_id, s.code",
            ["{" + ",".join(str(u) for u, _ in wanted) + "}",
             "{" + ",".join(str(a) for _, a in wanted) + "}"],
        )  # fmt: skip
        rows = cur.fetchall()
    assets: dict[int, tuple[str, int]] = {}
    positions: dict[int, dict[str, list[Decimal]]] = defaultdict(dict)
    for user_id, asset_id, code, precision, kind, balance in rows:
        assets[asset_id] = (code, precision)
        free_locked = positions[user_id].setdefault(code, [Decimal(0), Decimal(0)])
        free_locked[0 if kind == "AVAILABLE" else 1] = balance
    events: list[tuple[int, dict[str, Any]]] = []
    for user_id, asset_id, delta in updates:
        if user_id in listening and asset_id in assets:
            code, precision = assets[asset_id]
            events.append((user_id, balance_update(
                event_ms=at_ms, asset=code, delta=_signed(delta, precision), clear_ms=at_ms,
            )))  # fmt: skip
    for user_id, by_code in positions.items():
        precision_of = {code: p for code, p in assets.values()}
        events.append((user_id, account_position(
            event_ms=at_ms, update_ms=at_ms,
            balances=[(code, fmt(f, precision_of[code]), fmt(lk, precision_of[code]))
                      for code, (f, lk) in by_code.items()],
        )))  # fmt: skip
    return user_events_publish(client, events)


def _signed(value: Decimal, places: int) -> str:
    return ("-" if value < 0 else "") + fmt(abs(value), places)
