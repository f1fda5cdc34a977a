"""Settlement: trades and finished orders' holds applied to balances through the ledger.

Per market, in sequence order, each exactly once (DESIGN.md, "The order path", step 3): a trade is
marked settled in the same transaction that moves its money, under the unique ledger key
`trade:{market}:{seq}`; a finished order's unused hold is released (`order:{id}:release`) once
none of its trades is left unsettled.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from prometheus_client import Gauge, Histogram

from orders.models import OPEN_STATUSES, Trade

from .models import Hold, LedgerAccount
from .services import AccountKey, Leg, funds_release_legs, ledger_accounts_lock, ledger_post

Kind = LedgerAccount.Kind
# Advisory-lock namespace: one settler per market at a time, so sequence order holds.
_SETTLE_LOCK = 0x5E7713

SETTLEMENT_LAG = Histogram(
    "exchange_settlement_lag_seconds",
    "From a trade's commit by the matcher to its settlement",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
UNSETTLED_AGE = Gauge(
    "exchange_settlement_oldest_unsettled_seconds", "Age of the oldest unsettled trade", ["market"]
)


def _trade_legs(t: Trade, base_id: int, quote_id: int) -> list[Leg]:
    legs = [
        Leg(t.buyer_id, quote_id, Kind.LOCKED, -t.quote_qty),
        Leg(t.seller_id, quote_id, Kind.AVAILABLE, t.quote_qty - t.seller_fee),
        Leg(None, quote_id, Kind.FEES, t.seller_fee),
        Leg(t.seller_id, base_id, Kind.LOCKED, -t.qty),
        Leg(t.buyer_id, base_id, Kind.AVAILABLE, t.qty - t.buyer_fee),
        Leg(None, base_id, Kind.FEES, t.buyer_fee),
    ]
    return [leg for leg in legs if leg.amount != 0]


@transaction.atomic(durable=True)
def market_settle_batch(*, market_id: int, limit: int = 500) -> tuple[int, int]:
    """Settle up to `limit` trades of the market in seq order and release the holds of up to
    `limit` finished orders whose trades are all settled. Returns (trades settled, holds
    released): both bounded, so one transaction stays short however much work is waiting.

    Takes the market's settlement advisory lock, then locks holds (by id) and every balance
    involved once, in the global (user, asset) order. Commits; enqueues nothing.
    """
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_SETTLE_LOCK, market_id])
    trades = list(
        Trade.objects.filter(market_id=market_id, settled_at__isnull=True)
        .select_related("market")
        .order_by("seq")[:limit]
    )
    batch_ids = {t.id for t in trades}
    unsettled_elsewhere = Trade.objects.filter(
        Q(maker_order_id=OuterRef("order_id")) | Q(taker_order_id=OuterRef("order_id")),
        settled_at__isnull=True,
    ).exclude(pk__in=batch_ids)
    releasable = set(
        Hold.objects.filter(order__market_id=market_id, released_at__isnull=True)
        .exclude(order__status__in=OPEN_STATUSES)
        .exclude(Exists(unsettled_elsewhere))
        .order_by("id")
        .values_list("order_id", flat=True)[:limit]
    )
    order_ids = releasable | {o for t in trades for o in (t.maker_order_id, t.taker_order_id)}
    if not order_ids:
        return 0, 0
    holds = {
        h.order_id: h
        for h in Hold.objects.select_for_update().filter(order_id__in=order_ids).order_by("id")
    }

    keys: list[AccountKey] = []
    if trades:
        base_id, quote_id = trades[0].market.base_id, trades[0].market.quote_id
        for t in trades:
            keys.extend(leg.account_key for leg in _trade_legs(t, base_id, quote_id))
    for oid in releasable:
        hold = holds[oid]
        if hold.amount:
            keys += [
                (hold.user_id, hold.asset_id, Kind.LOCKED),
                (hold.user_id, hold.asset_id, Kind.AVAILABLE),
            ]
    locked = ledger_accounts_lock(keys=keys)

    now = timezone.now()
    for t in trades:
        ledger_post(
            key=f"trade:{market_id}:{t.seq}",
            kind="trade",
            legs=_trade_legs(t, base_id, quote_id),
            locked=locked,
        )
        buy_order = t.maker_order_id if t.is_buyer_maker else t.taker_order_id
        sell_order = t.taker_order_id if t.is_buyer_maker else t.maker_order_id
        holds[buy_order].amount -= t.quote_qty
        holds[sell_order].amount -= t.qty
        SETTLEMENT_LAG.observe((now - t.created_at).total_seconds())
    for oid in releasable:
        hold = holds[oid]
        if hold.amount:
            ledger_post(
                key=f"order:{oid}:release",
                kind="order_release",
                legs=funds_release_legs(
                    user_id=hold.user_id, asset_id=hold.asset_id, amount=hold.amount
                ),
                locked=locked,
            )
            hold.amount = Decimal(0)
        hold.released_at = now
    Hold.objects.bulk_update(holds.values(), ["amount", "released_at"])
    if trades:
        Trade.objects.filter(pk__in=batch_ids).update(settled_at=now)
    return len(trades), len(releasable)


def market_settle(*, market_id: int, limit: int = 500) -> int:
    """Settle until nothing is left; returns the trades settled."""
    total = 0
    while True:
        trades, released = market_settle_batch(market_id=market_id, limit=limit)
        total += trades
        if trades < limit and released < limit:
            return total


def unsettled_markets(*, older_than_s: float = 0) -> dict[int, float]:
    """Markets with unsettled trades or unreleased finished holds -> age of the oldest trade."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_s)
    ages: dict[int, float] = {}
    rows = (
        Trade.objects.filter(settled_at__isnull=True, created_at__lte=cutoff)
        .values_list("market_id", "created_at")
        .order_by("market_id", "created_at")
        .distinct("market_id")
    )
    for market_id, created_at in rows:
        ages[market_id] = (now - created_at).total_seconds()
    holds = (
        Hold.objects.filter(
            released_at__isnull=True, order__isnull=False, order__done_at__lte=cutoff
        )
        .exclude(order__status__in=OPEN_STATUSES)
        .values_list("order__market_id", flat=True)
        .distinct()
    )
    for market_id in holds:
        ages.setdefault(market_id, 0.0)
    return ages
