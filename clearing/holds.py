"""Order holds: the funds an order may spend, owned here from placement to release.

- place: the SQL function clearing_order_hold_place (clearing migration 0004; called by the
  order path's acceptance statement, and by `order_hold_place`) moves the amount from the
  user's available to their locked balance (ledger key `order:{id}:hold`) and records the Hold
  (key `order:{id}`);
- consume and release: settlement (clearing/settlement.py) takes each trade's cost from the
  holds of its two orders and releases what is left of a finished order's hold
  (`order:{id}:release`, `order_release_legs`);
- read: `order_holds_original`, the amount each order was accepted with (what the engine
  command of a recovered or re-sent order is rebuilt from).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from exchange_site.errors import InsufficientFunds
from userdata.publish import publish_quietly

from .balance_events import balances_announce
from .models import Hold
from .services import Leg, funds_release_legs


def order_hold_key(order_id: int) -> str:
    return f"order:{order_id}"


def order_hold_announce(*, user_id: int, asset_id: int) -> None:
    """After the commit that placed a hold (the acceptance statement or `order_hold_place`):
    the user's new position of the asset on their user data streams (outboundAccountPosition),
    as ledger_post announces every other balance change."""
    order_holds_announce(pairs={(user_id, asset_id)})


def order_holds_announce(*, pairs: Iterable[tuple[int, int]]) -> None:
    """`order_hold_announce` for the (user id, asset id) pairs of several holds (the orders one
    group commit accepted), in one call."""
    transaction.on_commit(
        functools.partial(
            publish_quietly, balances_announce, pairs=set(pairs),
            at_ms=time.time_ns() // 1_000_000,
        ),
        robust=True,
    )  # fmt: skip


def order_hold_place(*, order_id: int, user_id: int, asset_id: int, amount: Decimal) -> None:
    """Lock `amount` of the user's available `asset_id` for the new order `order_id`.

    One statement: the SQL function clearing_order_hold_place (clearing migration 0004), which
    the order path's acceptance statement calls in PostgreSQL; it writes the rows ledger_post
    would (transaction `order:{id}:hold`, two postings, both balances) and the Hold. Locks the
    user's available, then locked, account of the asset; raises InsufficientFunds, writing
    nothing, when the available balance is short. In a savepoint inside the caller's
    transaction."""
    try:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "SELECT clearing_order_hold_place(%s, %s, %s, %s, %s)",
                [order_id, user_id, asset_id, amount, timezone.now()],
            )
    except IntegrityError as exc:
        if "insufficient_funds" in str(exc):
            raise InsufficientFunds() from exc
        raise
    order_hold_announce(user_id=user_id, asset_id=asset_id)


def order_release_legs(*, user_id: int, asset_id: int, amount: Decimal) -> list[Leg]:
    """The legs releasing what is left of a finished order's hold."""
    return funds_release_legs(user_id=user_id, asset_id=asset_id, amount=amount)


def order_holds_original(order_ids: Iterable[int]) -> dict[int, Decimal]:
    """Order id -> the amount its hold was placed with (orders without a hold are absent)."""
    return dict(
        Hold.objects.filter(order_id__in=list(order_ids)).values_list("order_id", "original_amount")
    )
