"""Abnormal-behaviour flags per user, from the orders and trades of the last window
(BEHAVIOUR_WINDOW_S), refreshed by the beat task admin_rbac.flags_scan:

- cancel_to_fill: cancelled orders per fill, when the user cancelled at least
  FLAG_CANCEL_MIN orders and the ratio reaches FLAG_CANCEL_TO_FILL_RATIO (quote stuffing,
  spoofing);
- order_burst: the most orders the user placed within one second, when it reaches
  FLAG_BURST_PER_S;
- self_trade: orders ended by self-trade prevention (EXPIRED_IN_MATCH) plus trades with
  themselves (STP NONE), when they reach FLAG_SELF_TRADE_MIN (wash trading).

Three aggregate queries per scan whatever the number of users.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from orders.models import Order, Trade

from .models import UserFlag

Kind = UserFlag.Kind


def _cancel_to_fill(since: datetime) -> dict[int, tuple[Decimal, str]]:
    orders, trades = Order._meta.db_table, Trade._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"""
            WITH c AS (
                SELECT user_id, COUNT(*) AS n FROM {orders}
                WHERE status = 'CANCELED' AND done_at >= %s GROUP BY user_id HAVING COUNT(*) >= %s
            ), f AS (
                SELECT u AS user_id, COUNT(*) AS n FROM (
                    SELECT buyer_id AS u FROM {trades} WHERE created_at >= %s
                    UNION ALL SELECT seller_id FROM {trades} WHERE created_at >= %s
                ) t WHERE u IN (SELECT user_id FROM c) GROUP BY u
            )
            SELECT c.user_id, c.n, COALESCE(f.n, 0) FROM c LEFT JOIN f USING (user_id)
            """,  # noqa: S608 - table names are ours, values are parameters
            [since, settings.FLAG_CANCEL_MIN, since, since],
        )
        rows = cur.fetchall()
    result = {}
    for user_id, cancels, fills in rows:
        ratio = Decimal(cancels) / max(fills, 1)
        if ratio >= settings.FLAG_CANCEL_TO_FILL_RATIO:
            result[user_id] = (ratio, f"{cancels} cancelled / {fills} fills")
    return result


def _bursts(since: datetime) -> dict[int, tuple[Decimal, str]]:
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT user_id, MAX(n) FROM (
                SELECT user_id, COUNT(*) AS n FROM {Order._meta.db_table}
                WHERE created_at >= %s GROUP BY user_id, date_trunc('second', created_at)
            ) s GROUP BY user_id HAVING MAX(n) >= %s
            """,  # noqa: S608 - the table name is ours, values are parameters
            [since, settings.FLAG_BURST_PER_S],
        )
        return {u: (Decimal(n), f"{n} orders within one second") for u, n in cur.fetchall()}


def _self_trades(since: datetime) -> dict[int, tuple[Decimal, str]]:
    with connection.cursor() as cur:
        cur.execute(
            f"""
            SELECT user_id, SUM(n) FROM (
                SELECT user_id, COUNT(*) AS n FROM {Order._meta.db_table}
                WHERE status = 'EXPIRED_IN_MATCH' AND done_at >= %s GROUP BY user_id
                UNION ALL
                SELECT buyer_id, COUNT(*) FROM {Trade._meta.db_table}
                WHERE buyer_id = seller_id AND created_at >= %s GROUP BY buyer_id
            ) s GROUP BY user_id HAVING SUM(n) >= %s
            """,  # noqa: S608 - table names are ours, values are parameters
            [since, since, settings.FLAG_SELF_TRADE_MIN],
        )
        return {
            u: (Decimal(n), f"{n} self-trade attempt(s) (prevented or executed)")
            for u, n in cur.fetchall()
        }


@transaction.atomic(durable=True)
def flags_refresh() -> int:
    """Raise or refresh the flags of the last window; return how many were raised or refreshed.
    Flags are kept (with their last_seen) after the behaviour stops."""
    now = timezone.now()
    since = now - timedelta(seconds=settings.BEHAVIOUR_WINDOW_S)
    found = {
        Kind.CANCEL_TO_FILL: _cancel_to_fill(since),
        Kind.ORDER_BURST: _bursts(since),
        Kind.SELF_TRADE: _self_trades(since),
    }
    count = 0
    for kind, users in found.items():
        existing = {f.user_id: f for f in UserFlag.objects.filter(kind=kind, user_id__in=users)}
        for user_id, (value, detail) in users.items():
            flag = existing.get(user_id)
            if flag is None:
                UserFlag.objects.create(
                    user_id=user_id, kind=kind, value=value.quantize(Decimal("0.0001")),
                    detail=detail, first_seen=now, last_seen=now,
                )  # fmt: skip
            else:
                flag.value = value.quantize(Decimal("0.0001"))
                flag.detail = detail
                flag.occurrences += 1
                flag.last_seen = now
                flag.save(update_fields=["value", "detail", "occurrences", "last_seen"])
            count += 1
    return count
