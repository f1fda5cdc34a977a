"""Settlement: trades and finished orders' holds applied to balances through the ledger.

Per market, in sequence order, each exactly once (docs/architecture.md, "The order path", step 3):
a trade is marked settled in the same transaction that moves its money, under the unique ledger key
`trade:{market}:{seq}`; a finished order's unused hold is released (`order:{id}:release`) once
every trade below its done_seq is settled.

Set-based (docs/bench-matcher.md): per batch one statement writes every ledger transaction, its
postings and the balance changes (the postings of a key that already existed are not written:
ON CONFLICT DO NOTHING, so a repeat moves nothing), and one more the holds, the trades' settled_at
and the release cursor. The ledger rows are the ones `clearing.services.ledger_post` would write.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import Gauge, Histogram

from exchange_site.errors import InsufficientFunds
from userdata.publish import publish_quietly

from .balance_events import balances_announce
from .fees import trade_legs
from .holds import order_release_legs
from .models import LedgerAccount
from .services import AccountKey, Leg

log = structlog.get_logger(__name__)
Kind = LedgerAccount.Kind
ZERO = Decimal(0)

# Batch size follows the backlog: a full batch doubles the next one, up to MAX_LIMIT.
BASE_LIMIT = 500
MAX_LIMIT = 5000

SETTLEMENT_LAG = Histogram(
    "exchange_settlement_lag_seconds",
    "From a trade's commit by the matcher to its settlement",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# The worker's task processes write these in prometheus_client's multiprocess mode (the worker
# serves the merged files: exchange_site.celery_app); the newest value of any process counts.
UNSETTLED_AGE = Gauge(
    "exchange_settlement_oldest_unsettled_seconds",
    "Age of the oldest unsettled trade",
    ["market"],
    multiprocess_mode="mostrecent",
)


def _lit(values: list[Any]) -> str:
    """Array literal, each element double-quoted (keys, kinds, decimals, ints)."""
    return "{" + ",".join(f'"{v}"' if v is not None else "NULL" for v in values) + "}"


def _ints(values: Any) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _cursor_row(cur: Any, market_id: int, wait: bool) -> tuple[int, int] | None:
    """Lock the market's settlement row: (released_seq, the matcher's last_seq), or None when
    another settler holds it (wait=False)."""
    sql = (
        "SELECT c.released_seq, COALESCE(e.last_seq, 0) FROM clearing_settlementcursor c"
        " LEFT JOIN matching_marketenginestate e ON e.market_id = c.market_id"
        " WHERE c.market_id = %s FOR UPDATE OF c"
    )
    if not wait:
        sql += " SKIP LOCKED"
    cur.execute(sql, [market_id])
    row = cur.fetchone()
    if row is not None:
        return int(row[0]), int(row[1])
    cur.execute(
        "INSERT INTO clearing_settlementcursor (market_id, released_seq) VALUES (%s, 0)"
        " ON CONFLICT (market_id) DO NOTHING RETURNING market_id",
        [market_id],
    )
    if cur.fetchone() is None:
        return None  # it exists: another settler holds it
    cur.execute(sql, [market_id])
    row = cur.fetchone()
    return (int(row[0]), int(row[1])) if row else None


def _accounts_lock(cur: Any, keys: set[AccountKey]) -> dict[AccountKey, tuple[int, Decimal]]:
    """Create missing accounts, lock all in the global (user, asset, kind) order: key -> (id,
    balance)."""
    wanted = sorted(keys, key=lambda k: (k[0] if k[0] is not None else -1, k[1], k[2]))
    users = _lit([k[0] for k in wanted])
    assets = _ints(k[1] for k in wanted)
    kinds = _lit([k[2] for k in wanted])
    select = (
        "SELECT a.id, a.user_id, a.asset_id, a.kind, a.balance"
        " FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS k(u, s, kd)"
        " JOIN clearing_ledgeraccount a ON a.asset_id = k.s AND a.kind = k.kd"
        " AND (a.user_id = k.u OR (k.u IS NULL AND a.user_id IS NULL))"
        " ORDER BY a.user_id NULLS FIRST, a.asset_id, a.kind FOR UPDATE OF a"
    )
    cur.execute(select, [users, assets, kinds])
    rows = cur.fetchall()
    if len(rows) < len(wanted):
        cur.execute(
            "INSERT INTO clearing_ledgeraccount (user_id, asset_id, kind, balance)"
            " SELECT u, s, kd, 0 FROM unnest(%s::bigint[], %s::bigint[], %s::text[]) AS k(u, s, kd)"
            " ON CONFLICT ON CONSTRAINT account_unique DO NOTHING",
            [users, assets, kinds],
        )
        cur.execute(select, [users, assets, kinds])
        rows = cur.fetchall()
    return {(u, s, kd): (aid, bal) for aid, u, s, kd, bal in rows}


_LEDGER_SQL = (
    "WITH tx AS (INSERT INTO clearing_ledgertransaction (key, kind, memo, created_at)"
    " SELECT v.k, v.kd, '', %s FROM unnest(%s::text[], %s::text[]) AS v(k, kd)"
    " ON CONFLICT (key) DO NOTHING RETURNING id, key),"
    " p AS (INSERT INTO clearing_posting (transaction_id, account_id, asset_id, amount)"
    " SELECT tx.id, v.acc, v.asset, v.amt"
    " FROM unnest(%s::text[], %s::bigint[], %s::bigint[], %s::numeric[]) AS v(k, acc, asset, amt)"
    " JOIN tx ON tx.key = v.k RETURNING account_id, amount),"
    " b AS (UPDATE clearing_ledgeraccount a SET balance = a.balance + d.delta"
    " FROM (SELECT account_id, sum(amount) AS delta FROM p GROUP BY account_id) AS d"
    " WHERE a.id = d.account_id RETURNING a.id)"
    " SELECT key, (SELECT count(*) FROM b) FROM tx"
)
_MARK_SQL = (
    "WITH h AS (UPDATE clearing_hold h SET amount = h.amount - v.used,"
    " released_at = CASE WHEN v.rel THEN %s ELSE h.released_at END"
    " FROM unnest(%s::bigint[], %s::numeric[], %s::bool[]) AS v(id, used, rel)"
    " WHERE h.id = v.id RETURNING h.id),"
    " t AS (UPDATE orders_trade SET settled_at = %s WHERE id = ANY(%s::bigint[]) RETURNING id),"
    " c AS (UPDATE clearing_settlementcursor SET released_seq = %s WHERE market_id = %s"
    " RETURNING market_id)"
    " SELECT (SELECT count(*) FROM h), (SELECT count(*) FROM t), (SELECT count(*) FROM c)"
)


def market_settle_batch(
    *, market_id: int, limit: int = BASE_LIMIT, wait: bool = True
) -> tuple[int, int] | None:
    """Settle up to `limit` trades of the market in seq order and release the holds of up to
    `limit` finished orders whose trades are all settled. Returns (trades settled, holds
    released), both bounded so one transaction stays short; None when another settler holds
    the market and wait is False.

    One durable transaction: locks the market's settlement row (waits, or skips with
    wait=False, so a busy market never blocks a worker that could settle another), then every
    balance involved once, in the global (user, asset, kind) order. Enqueues nothing.
    """
    with transaction.atomic(durable=True), connection.cursor() as cur:
        row = _cursor_row(cur, market_id, wait)
        if row is None:
            return None
        released_seq, last_seq = row
        cur.execute(
            "SELECT t.id, t.seq, t.maker_order_id, t.taker_order_id, t.buyer_id, t.seller_id,"
            " t.qty, t.quote_qty, t.buyer_fee, t.seller_fee, t.is_buyer_maker, t.created_at,"
            " m.base_id, m.quote_id"
            " FROM orders_trade t JOIN orders_market m ON m.id = t.market_id"
            " WHERE t.market_id = %s AND t.settled_at IS NULL ORDER BY t.seq LIMIT %s",
            [market_id, limit + 1],
        )
        trades = cur.fetchall()
        # Every trade below the watermark is settled by the end of this batch (or before), so
        # an order that finished below it has nothing left to settle.
        if len(trades) > limit:
            watermark = trades[limit][1]
            trades = trades[:limit]
        else:
            watermark = last_seq + 1
        cur.execute(
            "SELECT id, done_seq FROM orders_order WHERE market_id = %s AND done_seq >= %s"
            " AND done_seq < %s ORDER BY done_seq LIMIT %s",
            [market_id, released_seq, watermark, limit + 1],
        )
        finished = cur.fetchall()
        # The cursor moves to a done_seq only once every order finished below it is looked at:
        # orders may share a done_seq (rejections outside the engine take the market's current
        # seq), so a full batch stops below the seq of the first order it leaves out.
        if len(finished) > limit:
            boundary = finished[limit][1]
            below = [f for f in finished if f[1] < boundary]
            if below:
                finished, new_released = below, boundary
            else:  # more than `limit` orders finished at released_seq itself: take them all
                cur.execute(
                    "SELECT id, done_seq FROM orders_order WHERE market_id = %s AND done_seq = %s",
                    [market_id, released_seq],
                )
                finished = cur.fetchall()
                new_released = max(released_seq, min(released_seq + 1, watermark - 1))
        else:
            new_released = max(released_seq, watermark - 1)
        if not trades and not finished:
            if new_released != released_seq:
                cur.execute(
                    "UPDATE clearing_settlementcursor SET released_seq = %s WHERE market_id = %s",
                    [new_released, market_id],
                )
            return 0, 0

        order_ids = {oid for oid, _ in finished}
        for t in trades:
            order_ids.add(t[2])
            order_ids.add(t[3])
        cur.execute(
            "SELECT order_id, id, user_id, asset_id, amount, released_at IS NOT NULL"
            " FROM clearing_hold WHERE order_id = ANY(%s::bigint[])",
            [_ints(sorted(order_ids))],
        )
        holds = {r[0]: r for r in cur.fetchall()}

        keys: list[str] = []
        kinds: list[str] = []
        legs_of: list[list[Leg]] = []
        used: dict[int, Decimal] = defaultdict(lambda: ZERO)  # hold id -> amount consumed
        trade_key: dict[str, tuple[int, int, Decimal, Decimal]] = {}
        for t in trades:
            (_, seq, maker, taker, buyer, seller, qty, quote, bfee, sfee, ibm, _, base_id,
             quote_id) = t  # fmt: skip
            key = f"trade:{market_id}:{seq}"
            keys.append(key)
            kinds.append("trade")
            legs_of.append(
                trade_legs(
                    buyer=buyer,
                    seller=seller,
                    qty=qty,
                    quote=quote,
                    buyer_fee=bfee,
                    seller_fee=sfee,
                    base_id=base_id,
                    quote_id=quote_id,
                )
            )
            buy_order, sell_order = (maker, taker) if ibm else (taker, maker)
            trade_key[key] = (holds[buy_order][1], holds[sell_order][1], quote, qty)
            used[holds[buy_order][1]] += quote
            used[holds[sell_order][1]] += qty
        release: set[int] = set()
        for oid, _ in finished:
            hold = holds.get(oid)
            if hold is None or hold[5]:
                continue  # no hold (never funded) or released before
            _, hold_id, user_id, asset_id, amount, _ = hold
            release.add(hold_id)
            rest = amount - used[hold_id]
            if rest:
                keys.append(f"order:{oid}:release")
                kinds.append("order_release")
                legs_of.append(order_release_legs(user_id=user_id, asset_id=asset_id, amount=rest))
                used[hold_id] += rest

        account_keys = {leg.account_key for legs in legs_of for leg in legs}
        accounts = _accounts_lock(cur, account_keys) if account_keys else {}
        deltas: dict[AccountKey, Decimal] = defaultdict(lambda: ZERO)
        p_keys: list[str] = []
        p_accounts: list[int] = []
        p_assets: list[int] = []
        p_amounts: list[Decimal] = []
        for key, legs in zip(keys, legs_of, strict=True):
            for leg in legs:
                ak = leg.account_key
                deltas[ak] += leg.amount
                p_keys.append(key)
                p_accounts.append(accounts[ak][0])
                p_assets.append(leg.asset_id)
                p_amounts.append(leg.amount)
        for ak, delta in deltas.items():
            if ak[2] != Kind.EXTERNAL and accounts[ak][1] + delta < 0:
                raise InsufficientFunds()

        now = timezone.now()
        applied: set[str] = set()
        if keys:
            cur.execute(
                _LEDGER_SQL,
                [now, _lit(keys), _lit(kinds), _lit(p_keys), _ints(p_accounts),
                 _ints(p_assets), _lit(p_amounts)],
            )  # fmt: skip
            applied = {r[0] for r in cur.fetchall()}
        for key in set(keys) - applied:
            # Applied before (its key exists): its money moved then, so its holds were used.
            if key in trade_key:
                buy_hold, sell_hold, quote, qty = trade_key[key]
                used[buy_hold] -= quote
                used[sell_hold] -= qty
        hold_ids = sorted(used.keys() | release)
        cur.execute(
            _MARK_SQL,
            [now, _ints(hold_ids), _lit([used[h] for h in hold_ids]),
             "{" + ",".join("t" if h in release else "f" for h in hold_ids) + "}",
             now, _ints(t[0] for t in trades), new_released, market_id],
        )  # fmt: skip
    changed = {
        (leg.user_id, leg.asset_id)
        for key, legs in zip(keys, legs_of, strict=True)
        if key in applied
        for leg in legs
        if leg.user_id is not None
    }
    if changed:
        # Committed: the positions of every user whose balances moved, one event per user.
        publish_quietly(balances_announce, pairs=changed, at_ms=time.time_ns() // 1_000_000)
    for t in trades:
        SETTLEMENT_LAG.observe((now - t[11]).total_seconds())
    # Trades by seq (the matcher's batch log names the seqs of a request's trades) and the
    # orders they touched (the API's order.submitted line names a request's orders).
    log.info(
        "settlement.batch", market_id=market_id, trades=len(trades),
        trade_seqs=[trades[0][1], trades[-1][1]] if trades else None,
        released=len(release), order_ids=sorted(order_ids),
    )  # fmt: skip
    # The loop goes on while a batch is full and moved on: finished orders looked at while the
    # cursor advanced, else only those released now (all at this seq were taken).
    looked = len(finished) if new_released != released_seq else len(release)
    return len(trades), looked


def market_settle(*, market_id: int, limit: int | None = None) -> int:
    """Settle until nothing is left, waiting for another settler of the market if there is
    one; returns the trades settled. `limit` fixes the batch size (default: follows the
    backlog, see market_settle_run)."""
    total, _ = market_settle_run(market_id=market_id, limit=limit, wait=True)
    return total


def market_settle_run(
    *, market_id: int, limit: int | None = None, wait: bool = False, budget_s: float | None = None
) -> tuple[int, str]:
    """Settle batches until nothing is left ("done"), another settler holds the market
    ("busy", only with wait=False) or `budget_s` ran out with work left ("budget").
    Returns (trades settled, why it stopped).

    Batches are sized by the backlog: a batch that comes back full doubles the next, up to
    MAX_LIMIT; a settled-up market works in batches of BASE_LIMIT.
    """
    total = 0
    size = limit or BASE_LIMIT
    started = time.monotonic()
    while True:
        result = market_settle_batch(market_id=market_id, limit=size, wait=wait)
        if result is None:
            return total, "busy"
        trades, released = result
        total += trades
        if trades < size and released < size:
            return total, "done"
        if budget_s is not None and time.monotonic() - started > budget_s:
            return total, "budget"
        if limit is None:
            size = min(size * 2, MAX_LIMIT)


def market_ids_all() -> list[int]:
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM orders_market ORDER BY id")
        return [row[0] for row in cur.fetchall()]


def unsettled_markets(*, older_than_s: float = 0) -> dict[int, float]:
    """Markets with unsettled trades or unreleased finished holds -> age of the oldest trade."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_s)
    ages: dict[int, float] = {}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT ON (market_id) market_id, created_at FROM orders_trade"
            " WHERE settled_at IS NULL AND created_at <= %s ORDER BY market_id, created_at",
            [cutoff],
        )
        for market_id, created_at in cur.fetchall():
            ages[market_id] = (now - created_at).total_seconds()
        # Finished orders past the release cursor (the index order_market_done_seq).
        cur.execute(
            "SELECT m.id FROM orders_market m"
            " LEFT JOIN clearing_settlementcursor c ON c.market_id = m.id"
            " WHERE EXISTS (SELECT 1 FROM orders_order o WHERE o.market_id = m.id"
            " AND o.done_seq > COALESCE(c.released_seq, 0) AND o.done_at <= %s)",
            [cutoff],
        )
        for (market_id,) in cur.fetchall():
            ages.setdefault(market_id, 0.0)
    return ages
