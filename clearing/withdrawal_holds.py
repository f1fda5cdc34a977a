"""The money side of deposits and withdrawals: every movement through ledger_post.

A withdrawal's funds are a Hold keyed `withdrawal:<id>` from the request on:
- place:   AVAILABLE -> LOCKED, ledger key `withdrawal:<id>:hold`;
- release: LOCKED -> AVAILABLE (cancelled, rejected, failed), key `withdrawal:<id>:release`;
- consume: LOCKED -> EXTERNAL (what the chain receives) and -> FEES (the network fee) when the
  transaction is sent, key `withdrawal:<id>:send`;
- refund:  EXTERNAL/FEES -> AVAILABLE for a sent transaction an operator found gone from the
  chain, key `withdrawal:<id>:refund`.
A deposit is credited EXTERNAL -> AVAILABLE under `deposit:<chain>:<txid>:<vout>` and, if an
operator reverses one that vanished after credit, debited back under `...:reversal`.

Every function runs inside the caller's transaction (the one recording the withdrawal's or the
deposit's state), opens none of its own and locks the hold row and the balances it moves.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from exchange_site.errors import InvalidInput

from .models import Hold, LedgerAccount
from .services import Leg, funds_lock_legs, funds_release_legs, ledger_post

Kind = LedgerAccount.Kind


def _in_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("withdrawal hold services run inside the caller's transaction")


def withdrawal_hold_key(withdrawal_id: int) -> str:
    return f"withdrawal:{withdrawal_id}"


def withdrawal_hold_place(
    *, withdrawal_id: int, user_id: int, asset_id: int, amount: Decimal
) -> Hold:
    """Lock `amount` of the user's available balance for the withdrawal (InsufficientFunds when
    it is not there) and record the hold."""
    _in_transaction()
    if amount <= 0:
        raise InvalidInput("withdrawal amount must be positive")
    ledger_post(
        key=f"{withdrawal_hold_key(withdrawal_id)}:hold",
        kind="withdrawal_hold",
        legs=funds_lock_legs(user_id=user_id, asset_id=asset_id, amount=amount),
        new_key=True,
    )
    return Hold.objects.create(
        key=withdrawal_hold_key(withdrawal_id),
        user_id=user_id,
        asset_id=asset_id,
        amount=amount,
        original_amount=amount,
    )


def _hold_locked(withdrawal_id: int) -> Hold:
    return Hold.objects.select_for_update(of=("self",)).get(key=withdrawal_hold_key(withdrawal_id))


def withdrawal_hold_release(*, withdrawal_id: int) -> Decimal:
    """Give what the hold still locks back to the user's available balance; return it
    (zero when it was released or consumed before)."""
    _in_transaction()
    hold = _hold_locked(withdrawal_id)
    amount: Decimal = hold.amount
    if amount > 0:
        ledger_post(
            key=f"{hold.key}:release",
            kind="withdrawal_release",
            legs=funds_release_legs(user_id=hold.user_id, asset_id=hold.asset_id, amount=amount),
        )
    _close(hold)
    return amount


def withdrawal_hold_consume(*, withdrawal_id: int, fee: Decimal) -> None:
    """The transaction is sent: the locked amount leaves for EXTERNAL, less `fee` to FEES."""
    _in_transaction()
    hold = _hold_locked(withdrawal_id)
    if hold.released_at is not None:
        return  # consumed before (a repeated call)
    amount = hold.amount
    if not Decimal(0) <= fee < amount:
        raise InvalidInput(f"fee {fee} must be below the held amount {amount}")
    legs = [
        Leg(hold.user_id, hold.asset_id, Kind.LOCKED, -amount),
        Leg(None, hold.asset_id, Kind.EXTERNAL, amount - fee),
    ]
    if fee:
        legs.append(Leg(None, hold.asset_id, Kind.FEES, fee))
    ledger_post(key=f"{hold.key}:send", kind="withdrawal_send", legs=legs)
    _close(hold)


def withdrawal_refund(
    *, withdrawal_id: int, user_id: int, asset_id: int, amount: Decimal, fee: Decimal
) -> None:
    """Undo a consumed send whose transaction never made it on chain (operator decision)."""
    _in_transaction()
    legs = [
        Leg(None, asset_id, Kind.EXTERNAL, -(amount - fee)),
        Leg(user_id, asset_id, Kind.AVAILABLE, amount),
    ]
    if fee:
        legs.append(Leg(None, asset_id, Kind.FEES, -fee))
    ledger_post(
        key=f"{withdrawal_hold_key(withdrawal_id)}:refund", kind="withdrawal_refund", legs=legs
    )


def _close(hold: Hold) -> None:
    hold.amount = Decimal(0)
    hold.released_at = hold.released_at or timezone.now()
    hold.save(update_fields=["amount", "released_at"])


def deposit_credit(*, ledger_key: str, user_id: int, asset_id: int, amount: Decimal) -> bool:
    """Credit a deposit from EXTERNAL to the user's available balance, once per `ledger_key`
    (`deposit:<chain>:<txid>:<vout>`). Returns False when it was applied before."""
    _in_transaction()
    if amount <= 0:
        raise InvalidInput("deposit amount must be positive")
    _, created = ledger_post(
        key=ledger_key,
        kind="deposit",
        legs=[
            Leg(None, asset_id, Kind.EXTERNAL, -amount),
            Leg(user_id, asset_id, Kind.AVAILABLE, amount),
        ],
    )
    return created


def deposit_reverse(*, ledger_key: str, user_id: int, asset_id: int, amount: Decimal) -> bool:
    """Take back a credited deposit whose transaction vanished (operator decision); raises
    InsufficientFunds when the user no longer has it available."""
    _in_transaction()
    _, created = ledger_post(
        key=f"{ledger_key}:reversal",
        kind="deposit_reversal",
        legs=[
            Leg(user_id, asset_id, Kind.AVAILABLE, -amount),
            Leg(None, asset_id, Kind.EXTERNAL, amount),
        ],
    )
    return created
