"""The one way money moves: ledger_post. Everything else here is a caller of it."""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from exchange_site.errors import InsufficientFunds, InvalidInput
from exchange_site.money import ZERO
from userdata.publish import publish_quietly

from .balance_events import BALANCE_UPDATE_KINDS, balances_announce
from .models import LedgerAccount, LedgerTransaction, Posting

Kind = LedgerAccount.Kind
# (user_id or None for system, asset_id, kind)
AccountKey = tuple[int | None, int, str]


@dataclass(frozen=True, slots=True)
class Leg:
    """One posting of a transaction: + credits the account, - debits it."""

    user_id: int | None
    asset_id: int
    kind: str
    amount: Decimal

    @property
    def account_key(self) -> AccountKey:
        return (self.user_id, self.asset_id, self.kind)


def _lock_order(key: AccountKey) -> tuple[int, int, str]:
    # The one global lock order: (user id, asset, kind), system accounts (no user) first.
    return (key[0] if key[0] is not None else -1, key[1], key[2])


def ledger_accounts_lock(*, keys: Iterable[AccountKey]) -> dict[AccountKey, LedgerAccount]:
    """Create missing accounts and lock all of them, in the global order. Caller's transaction."""
    wanted = sorted(set(keys), key=_lock_order)
    if not wanted:
        return {}
    locked = _select_locked(wanted)
    if len(locked) < len(wanted):
        LedgerAccount.objects.bulk_create(
            [
                LedgerAccount(user_id=u, asset_id=a, kind=k)
                for u, a, k in wanted
                if (u, a, k) not in locked
            ],
            ignore_conflicts=True,
        )
        locked = _select_locked(wanted)
    return locked


def _select_locked(wanted: list[AccountKey]) -> dict[AccountKey, LedgerAccount]:
    # PostgreSQL locks rows as the LockRows node receives them, i.e. after the sort: ORDER BY
    # makes one SELECT ... FOR UPDATE take the locks in the global order.
    cond = Q()
    for user_id, asset_id, kind in wanted:
        cond |= Q(user_id=user_id, asset_id=asset_id, kind=kind)
    rows = (
        LedgerAccount.objects.select_for_update()
        .filter(cond)
        .order_by(F("user_id").asc(nulls_first=True), "asset_id", "kind")
    )
    return {(a.user_id, a.asset_id, a.kind): a for a in rows}


def ledger_post(
    *,
    key: str,
    kind: str,
    legs: Sequence[Leg],
    memo: str = "",
    locked: dict[AccountKey, LedgerAccount] | None = None,
    new_key: bool = False,
) -> tuple[LedgerTransaction, bool]:
    """Apply one balanced transaction; return (transaction, created).

    Runs inside the caller's transaction (opens none of its own beyond a savepoint). Locks the
    accounts involved in the global order (or uses `locked`, already locked by the caller),
    returns the existing transaction untouched when `key` was applied before (the look-up is
    skipped with new_key=True, for keys made from a row inserted by this transaction), and raises
    InsufficientFunds, rolling back nothing but what it would have written, when a user
    account would go negative.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_post must run inside a transaction")
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for leg in legs:
        if leg.amount == 0:
            raise InvalidInput(f"ledger leg with zero amount in {key}")
        totals[leg.asset_id] += leg.amount
    if any(total != 0 for total in totals.values()):
        raise InvalidInput(f"ledger transaction {key} does not balance: {dict(totals)}")

    keys = [leg.account_key for leg in legs]
    if locked is None or any(k not in locked for k in keys):
        locked = {**(locked or {}), **ledger_accounts_lock(keys=keys)}

    if not new_key:
        existing = LedgerTransaction.objects.filter(key=key).first()
        if existing is not None:
            return existing, False

    deltas: dict[AccountKey, Decimal] = defaultdict(lambda: ZERO)
    for leg in legs:
        deltas[leg.account_key] += leg.amount
    for account_key, delta in deltas.items():
        account = locked[account_key]
        if account.kind != Kind.EXTERNAL and account.balance + delta < 0:
            raise InsufficientFunds()

    if new_key:
        txn = LedgerTransaction.objects.create(key=key, kind=kind, memo=memo)
    else:
        try:
            with transaction.atomic():
                txn = LedgerTransaction.objects.create(key=key, kind=kind, memo=memo)
        except IntegrityError:
            # Lost a race on the key: the other writer held our account locks until it
            # committed, so its transaction is visible now; it applied the money.
            return LedgerTransaction.objects.get(key=key), False
    Posting.objects.bulk_create(
        [
            Posting(
                transaction=txn,
                account=locked[leg.account_key],
                asset_id=leg.asset_id,
                amount=leg.amount,
            )
            for leg in legs
        ]
    )
    changed = [(locked[k], d) for k, d in deltas.items() if d != 0]
    if changed:
        # One statement for all the balances (a placement moves two, a trade six).
        rows = ",".join(["(%s::bigint, %s::numeric)"] * len(changed))
        params: list[int | Decimal] = [v for account, delta in changed for v in (account.pk, delta)]
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {LedgerAccount._meta.db_table} a SET balance = a.balance + v.delta"  # noqa: S608 - no user input in the SQL text
                f" FROM (VALUES {rows}) AS v(id, delta) WHERE a.id = v.id",
                params,
            )
        for account, delta in changed:
            account.balance += delta
    _announce_after_commit(kind, deltas)
    return txn, True


def _announce_after_commit(kind: str, deltas: dict[AccountKey, Decimal]) -> None:
    """The user data streams' balance events of this posting, once its transaction commits
    (nothing if it rolls back): clearing.balance_events."""
    pairs = {(u, a) for (u, a, _), d in deltas.items() if u is not None and d != 0}
    if not pairs:
        return
    updates = []
    if kind in BALANCE_UPDATE_KINDS:
        updates = [
            (u, a, d)
            for (u, a, k), d in deltas.items()
            if u is not None and k == Kind.AVAILABLE and d != 0
        ]
    at_ms = time.time_ns() // 1_000_000
    transaction.on_commit(
        functools.partial(publish_quietly, balances_announce, pairs=pairs, at_ms=at_ms,
                          updates=updates),
        robust=True,
    )  # fmt: skip


@transaction.atomic(durable=True)
def balance_credit_external(*, user_id: int, asset_id: int, amount: Decimal, ref: str) -> bool:
    """Credit a user's available balance from the EXTERNAL account, once per `ref`.

    Locks the two accounts; commits; enqueues nothing. Returns False when `ref` was applied before.
    """
    if amount <= 0:
        raise InvalidInput("amount must be positive")
    _, created = ledger_post(
        key=f"deposit:{ref}",
        kind="deposit",
        legs=[
            Leg(None, asset_id, Kind.EXTERNAL, -amount),
            Leg(user_id, asset_id, Kind.AVAILABLE, amount),
        ],
        memo=f"credit {ref}",
    )
    return created


def funds_lock_legs(*, user_id: int, asset_id: int, amount: Decimal) -> list[Leg]:
    """Legs moving `amount` from available to locked."""
    return [
        Leg(user_id, asset_id, Kind.AVAILABLE, -amount),
        Leg(user_id, asset_id, Kind.LOCKED, amount),
    ]


def funds_release_legs(*, user_id: int, asset_id: int, amount: Decimal) -> list[Leg]:
    """Legs moving `amount` from locked back to available."""
    return [
        Leg(user_id, asset_id, Kind.LOCKED, -amount),
        Leg(user_id, asset_id, Kind.AVAILABLE, amount),
    ]
