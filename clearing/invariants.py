"""The money invariants of docs/architecture.md, checked against the database.

Used by the tests (assert_ledger_invariants) and by the reconcile command and task. Every check
reads one consistent snapshot (a REPEATABLE READ, read-only transaction): settlement and the
matcher commit while it runs, and separate autocommit queries reported false mismatches.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from .models import LedgerAccount

Kind = LedgerAccount.Kind

# Holds not owned by an order are checked by their key's prefix: the app that owns them
# registers a function returning which of the given ids (the text after "<prefix>:") are still
# pending, e.g. HOLD_OWNERS["withdrawal"] = lambda ids: {...}. A hold whose prefix no app
# registered is only checked against the ledger (the locked totals).
HOLD_OWNERS: dict[str, Callable[[list[str]], set[str]]] = {}
# Whole checks contributed by apps that own other holds (registered in their AppConfig.ready,
# e.g. the wallet's withdrawal holds): each runs inside the same snapshot, returns problems.
HOLD_CHECKS: list[Callable[[], list[str]]] = []

_OPEN = ("PENDING_NEW", "NEW", "PARTIALLY_FILLED")
_LIMIT_TYPES = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")


def hold_totals() -> dict[tuple[int, int], Decimal]:
    """Sum of what should be locked per (user_id, asset_id): every hold still holding funds."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT user_id, asset_id, sum(amount) FROM clearing_hold WHERE amount > 0"
            " GROUP BY user_id, asset_id"
        )
        return {(u, a): total for u, a, total in cur.fetchall()}


def ledger_check_invariants() -> list[str]:
    """Return a description of every broken invariant; an empty list means all hold.

    Outside a transaction, runs in its own REPEATABLE READ READ ONLY transaction (one
    snapshot); inside one (a test's), uses the caller's snapshot.
    """
    if connection.in_atomic_block:
        return _check_all()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _check_all()


def _check_all() -> list[str]:
    problems: list[str] = []
    with connection.cursor() as cur:
        _check_ledger(cur, problems)
        _check_holds(cur, problems)
        _check_trades(cur, problems)
    for check in HOLD_CHECKS:  # same connection: the same snapshot
        problems.extend(check())
    return problems


def _check_ledger(c: CursorWrapper, problems: list[str]) -> None:
    c.execute(
        "SELECT a.id, a.user_id, a.asset_id, a.kind, a.balance, COALESCE(p.total, 0)"
        " FROM clearing_ledgeraccount a LEFT JOIN (SELECT account_id, sum(amount) AS total"
        " FROM clearing_posting GROUP BY account_id) p ON p.account_id = a.id ORDER BY a.id"
    )
    locked_balances: dict[tuple[int, int], Decimal] = {}
    for _, user_id, asset_id, kind, balance, posted in c.fetchall():
        name = f"{user_id if user_id is not None else 'system'}/{asset_id}/{kind}"
        if balance != posted:
            problems.append(f"account {name} balance {balance} != sum of postings {posted}")
        if kind != Kind.EXTERNAL and balance < 0:
            problems.append(f"account {name} is negative: {balance}")
        if kind == Kind.LOCKED and user_id is not None:
            locked_balances[(user_id, asset_id)] = balance

    c.execute(
        "SELECT asset_id, sum(amount) FROM clearing_posting GROUP BY asset_id"
        " HAVING sum(amount) <> 0"
    )
    for asset_id, total in c.fetchall():
        problems.append(f"asset {asset_id}: postings sum to {total}, not 0")
    c.execute(
        "SELECT transaction_id, asset_id, sum(amount) FROM clearing_posting"
        " GROUP BY transaction_id, asset_id HAVING sum(amount) <> 0"
    )
    for txn_id, asset_id, total in c.fetchall():
        problems.append(f"transaction {txn_id} asset {asset_id}: postings sum to {total}")

    holds = hold_totals()
    for key in sorted(set(holds) | set(locked_balances)):
        held = holds.get(key, Decimal(0))
        locked = locked_balances.get(key, Decimal(0))
        if held != locked:
            problems.append(f"user {key[0]} asset {key[1]}: locked {locked} != holds {held}")


def _check_holds(c: CursorWrapper, problems: list[str]) -> None:
    """Each hold belongs to an open order (or a finished one whose release settlement has not
    reached yet) or to a pending owner of its prefix; an open limit order's hold covers what
    its remainder can still cost, beyond its trades not settled yet; a released hold is empty."""
    c.execute(
        "SELECT h.key, h.amount FROM clearing_hold h"
        " WHERE h.released_at IS NOT NULL AND h.amount <> 0"
    )
    for key, amount in c.fetchall():
        problems.append(f"hold {key} is released but still holds {amount}")
    # Order holds: what is still needed, net of trades the hold still pays for (unsettled).
    c.execute(
        "SELECT h.key, h.amount, o.id, o.status, o.side, o.type, o.price, o.quantity,"
        " o.executed_qty, h.asset_id = m.quote_id,"
        " COALESCE((SELECT sum(CASE WHEN (t.is_buyer_maker AND t.maker_order_id = o.id)"
        "   OR (NOT t.is_buyer_maker AND t.taker_order_id = o.id) THEN t.quote_qty"
        "   ELSE t.qty END) FROM orders_trade t"
        "   WHERE (t.maker_order_id = o.id OR t.taker_order_id = o.id)"
        "   AND t.settled_at IS NULL), 0)"
        " FROM clearing_hold h JOIN orders_order o ON o.id = h.order_id"
        " JOIN orders_market m ON m.id = o.market_id"
        " WHERE h.released_at IS NULL AND o.status = ANY(%s)",
        [list(_OPEN)],
    )
    for (
        key,
        amount,
        oid,
        status,
        side,
        otype,
        price,
        qty,
        executed,
        in_quote,
        unsettled,
    ) in c.fetchall():
        if otype not in _LIMIT_TYPES or qty is None:
            continue  # market-like: the engine caps spending at the hold itself
        remainder = qty - executed
        need = remainder * price if side == "BUY" else remainder
        if in_quote != (side == "BUY"):
            problems.append(f"hold {key} of order {oid} is in the wrong asset")
        elif amount - unsettled < need:
            problems.append(
                f"hold {key} of {status} order {oid}: {amount} less {unsettled} unsettled"
                f" does not cover its remainder ({need})"
            )
    c.execute(
        "SELECT o.id, o.status FROM orders_order o LEFT JOIN clearing_hold h ON h.order_id = o.id"
        " WHERE o.status = ANY(%s) AND (h.id IS NULL OR h.released_at IS NOT NULL)",
        [list(_OPEN)],
    )
    for oid, status in c.fetchall():
        problems.append(f"{status} order {oid} has no unreleased hold")
    # Holds of other owners: by prefix.
    c.execute(
        "SELECT key FROM clearing_hold WHERE order_id IS NULL AND amount > 0"
        " AND released_at IS NULL"
    )
    by_prefix: dict[str, list[str]] = {}
    for (key,) in c.fetchall():
        prefix, _, ident = key.partition(":")
        if prefix == "order":
            problems.append(f"hold {key} names an order but is linked to none")
        else:
            by_prefix.setdefault(prefix, []).append(ident)
    for prefix, ids in by_prefix.items():
        pending = HOLD_OWNERS.get(prefix)
        if pending is None:
            continue
        problems.extend(
            f"hold {prefix}:{ident} holds funds for nothing pending"
            for ident in sorted(set(ids) - pending(ids))
        )


def _check_trades(c: CursorWrapper, problems: list[str]) -> None:
    """Orders' executed quantities equal their trades; settled trades (and only those) have
    their ledger transaction; fees are within the amounts and equal what the FEES accounts
    received from trades."""
    c.execute(
        "SELECT o.id, o.executed_qty, o.cumulative_quote_qty, COALESCE(f.qty, 0),"
        " COALESCE(f.quote, 0) FROM orders_order o LEFT JOIN ("
        "  SELECT oid, sum(qty) AS qty, sum(quote) AS quote FROM ("
        "   SELECT maker_order_id AS oid, qty, quote_qty AS quote FROM orders_trade"
        "   UNION ALL SELECT taker_order_id, qty, quote_qty FROM orders_trade) x GROUP BY oid"
        " ) f ON f.oid = o.id"
        " WHERE o.executed_qty <> COALESCE(f.qty, 0)"
        " OR o.cumulative_quote_qty <> COALESCE(f.quote, 0)"
    )
    for oid, executed, cum_quote, traded, traded_quote in c.fetchall():
        problems.append(
            f"order {oid}: executed {executed} / quote {cum_quote} but its trades sum to"
            f" {traded} / {traded_quote}"
        )
    c.execute(
        "SELECT t.market_id, t.seq, t.settled_at IS NOT NULL, l.id IS NOT NULL"
        " FROM orders_trade t LEFT JOIN clearing_ledgertransaction l"
        " ON l.key = 'trade:' || t.market_id || ':' || t.seq"
        " WHERE (t.settled_at IS NOT NULL) <> (l.id IS NOT NULL)"
    )
    for market_id, seq, settled, _posted in c.fetchall():
        what = "settled without its ledger transaction" if settled else "posted but not settled"
        problems.append(f"trade {market_id}:{seq} {what}")
    c.execute(
        "SELECT market_id, seq FROM orders_trade WHERE buyer_fee < 0 OR seller_fee < 0"
        " OR buyer_fee > qty OR seller_fee > quote_qty"
    )
    for market_id, seq in c.fetchall():
        problems.append(f"trade {market_id}:{seq} has a fee out of range")
    c.execute(
        "WITH charged AS ("
        "  SELECT m.base_id AS asset_id, sum(t.buyer_fee) AS total FROM orders_trade t"
        "  JOIN orders_market m ON m.id = t.market_id WHERE t.settled_at IS NOT NULL"
        "  GROUP BY m.base_id"
        "  UNION ALL SELECT m.quote_id, sum(t.seller_fee) FROM orders_trade t"
        "  JOIN orders_market m ON m.id = t.market_id WHERE t.settled_at IS NOT NULL"
        "  GROUP BY m.quote_id),"
        " charged_total AS (SELECT asset_id, sum(total) AS total FROM charged GROUP BY asset_id),"
        " received AS (SELECT p.asset_id, sum(p.amount) AS total FROM clearing_posting p"
        "  JOIN clearing_ledgeraccount a ON a.id = p.account_id AND a.kind = 'FEES'"
        "  JOIN clearing_ledgertransaction l ON l.id = p.transaction_id AND l.kind = 'trade'"
        "  GROUP BY p.asset_id)"
        " SELECT COALESCE(c.asset_id, r.asset_id), COALESCE(c.total, 0), COALESCE(r.total, 0)"
        " FROM charged_total c FULL JOIN received r ON r.asset_id = c.asset_id"
        " WHERE COALESCE(c.total, 0) <> COALESCE(r.total, 0)"
    )
    for asset_id, charged, received in c.fetchall():
        problems.append(
            f"asset {asset_id}: settled trades charged {charged} in fees, FEES received {received}"
        )


def ledger_summary() -> dict[str, int]:
    from .models import LedgerTransaction, Posting

    return {
        "accounts": LedgerAccount.objects.count(),
        "transactions": LedgerTransaction.objects.count(),
        "postings": Posting.objects.count(),
    }
