"""Order holds: the funds an order may spend, owned here from placement to release.

- place: `order_hold_place` moves the amount from the user's available to their locked balance
  (ledger key `order:{id}:hold`) and records the Hold (key `order:{id}`), in the caller's
  transaction;
- consume and release: settlement (clearing/settlement.py) takes each trade's cost from the
  holds of its two orders and releases what is left of a finished order's hold
  (`order:{id}:release`, `order_release_legs`);
- read: `order_holds_original`, the amount each order was accepted with (what the engine
  command of a recovered or re-sent order is rebuilt from).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from .models import Hold
from .services import Leg, funds_lock_legs, funds_release_legs, ledger_post


def order_hold_key(order_id: int) -> str:
    return f"order:{order_id}"


def order_hold_place(*, order_id: int, user_id: int, asset_id: int, amount: Decimal) -> Hold:
    """Lock `amount` of the user's available `asset_id` for the new order `order_id`.

    The caller's transaction, with the order row inserted by it (the ledger key is new: no
    look-up). Locks the user's available and locked accounts of the asset; raises
    InsufficientFunds, writing nothing, when the available balance is short."""
    ledger_post(
        key=f"order:{order_id}:hold",
        kind="order_hold",
        legs=funds_lock_legs(user_id=user_id, asset_id=asset_id, amount=amount),
        new_key=True,
    )
    return Hold.objects.create(
        key=order_hold_key(order_id),
        user_id=user_id,
        asset_id=asset_id,
        order_id=order_id,
        amount=amount,
        original_amount=amount,
    )


def order_release_legs(*, user_id: int, asset_id: int, amount: Decimal) -> list[Leg]:
    """The legs releasing what is left of a finished order's hold."""
    return funds_release_legs(user_id=user_id, asset_id=asset_id, amount=amount)


def order_holds_original(order_ids: Iterable[int]) -> dict[int, Decimal]:
    """Order id -> the amount its hold was placed with (orders without a hold are absent)."""
    return dict(
        Hold.objects.filter(order_id__in=list(order_ids)).values_list("order_id", "original_amount")
    )
