"""The matcher benchmark's workload: market BTCUSDT (tick 0.1, step 0.001), 50 funded traders
and the standard random stream (bench.streams), its orders pre-created in bulk as PENDING_NEW
rows with their clearing.Hold, and one ledger lock per (user, asset) for the sum of that
user's holds (so LOCKED == sum of holds from the start). Import after django.setup()."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import transaction

from accounts.services import user_create
from bench.harness.database import analyze
from bench.streams import build_stream
from clearing.models import Hold
from clearing.services import balance_credit_external, funds_lock_legs, ledger_post
from matching.engine import CancelOrder, PlaceOrder, Side
from matching.engine.commands import Command
from orders.models import Market, Order
from orders.services import market_create

SYMBOL = "BTCUSDT"
TICK = Decimal("0.1")
STEP = Decimal("0.001")
N_TRADERS = 50
# Statistics for the matcher's queries (this server runs with autovacuum off).
STATS_TABLES = ("orders_order", "clearing_hold", "clearing_ledgeraccount", "orders_trade")


def market_and_traders() -> tuple[Market, list[int]]:
    market = market_create(
        base="BTC", quote="USDT", tick_size=TICK, step_size=STEP, min_notional=Decimal("1"),
    )  # fmt: skip
    users = [user_create(username=f"bench-trader-{i:02d}", password=None) for i in range(N_TRADERS)]
    return market, [user.id for user in users]


def commands_build(market: Market, user_ids: list[int], n: int, seed: int) -> list[Command]:
    """The engine benchmark's stream, its orders inserted as PENDING_NEW rows with holds."""
    stream = build_stream(n, seed)
    base_id, quote_id = market.base_id, market.quote_id
    places = [c for c in stream if type(c) is PlaceOrder]
    owner = {c.order_id: user_ids[c.owner_id % len(user_ids)] for c in places}
    needed: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    rows = []
    for c in places:
        uid = owner[c.order_id]
        price, qty = TICK * c.price_ticks, STEP * c.qty_lots
        buy = c.side == Side.BUY
        amount = price * qty if buy else qty
        asset = quote_id if buy else base_id
        needed[(uid, asset)] += amount
        rows.append((c, uid, price, qty, buy, asset, amount))

    # Funding through the real service: each user gets what their holds need, plus a margin.
    for uid in user_ids:
        for asset in (base_id, quote_id):
            amount = needed.get((uid, asset), Decimal(0)) + Decimal(1000)
            balance_credit_external(
                user_id=uid, asset_id=asset, amount=amount, ref=f"bench-{uid}-{asset}"
            )

    with transaction.atomic(durable=True):
        orders = Order.objects.bulk_create(
            [
                Order(
                    user_id=uid,
                    market=market,
                    client_order_id=f"bench-{c.order_id}",
                    side="BUY" if buy else "SELL",
                    type="LIMIT",
                    time_in_force="GTC",
                    price=price,
                    quantity=qty,
                    stp_mode="NONE",
                    status=Order.Status.PENDING_NEW,
                )
                for c, uid, price, qty, buy, _, _ in rows
            ],
            batch_size=5000,
        )
        db_id = {c.order_id: o.id for (c, *_), o in zip(rows, orders, strict=True)}
        Hold.objects.bulk_create(
            [
                Hold(
                    key=f"order:{o.id}",
                    user_id=uid,
                    asset_id=asset,
                    order_id=o.id,
                    amount=amount,
                    original_amount=amount,
                )
                for (_, uid, _, _, _, asset, amount), o in zip(rows, orders, strict=True)
            ],
            batch_size=5000,
        )
        # One lock per (user, asset) for the sum of the holds: LOCKED == sum of holds.
        for (uid, asset), total in sorted(needed.items()):
            ledger_post(
                key=f"bench:hold:{uid}:{asset}", kind="order_hold",
                legs=funds_lock_legs(user_id=uid, asset_id=asset, amount=total), new_key=True,
            )  # fmt: skip

    analyze(
        ("orders_order", "clearing_hold", "clearing_ledgeraccount", "orders_trade"), vacuum=True
    )

    cmds: list[Command] = []
    for cmd in stream:
        if type(cmd) is PlaceOrder:
            oid = cmd.order_id
            cmds.append(cmd._replace(order_id=db_id[oid], owner_id=owner[oid]))
        else:
            assert type(cmd) is CancelOrder
            cmds.append(CancelOrder(db_id[cmd.order_id], owner[cmd.order_id]))
    return cmds
