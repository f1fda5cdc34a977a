"""Reads for the trader UI and the API: networks, addresses, history, the address book."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from django.db.models import Model, QuerySet

from .models import AddressBookEntry, Asset, Deposit, DepositAddress, Network, Withdrawal


def network_list(*, coin: str | None = None) -> list[Network]:
    """Every network (of one asset), with its asset, in asset then network order."""
    rows = Network.objects.select_related("asset").order_by("asset__code", "code")
    if coin is not None:
        rows = rows.filter(asset__code=coin)
    return list(rows)


def asset_list() -> list[Asset]:
    return list(Asset.objects.order_by("code"))


def deposit_address_list(*, user_id: int) -> list[DepositAddress]:
    return list(
        DepositAddress.objects.filter(user_id=user_id)
        .select_related("network__asset")
        .order_by("network__asset__code", "network__code")
    )


def deposit_list(
    *,
    user_id: int,
    coin: str | None = None,
    status: str | None = None,
    txid: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    offset: int = 0,
    limit: int = 1000,
) -> list[Deposit]:
    """The user's deposits, newest first."""
    rows = Deposit.objects.filter(user_id=user_id).select_related("network", "asset", "address")
    rows = _filtered(rows, asset__code=coin, status=status, txid=txid)
    return _page(rows, "seen_at", start, end, offset, limit)


def withdrawal_list(
    *,
    user_id: int,
    coin: str | None = None,
    statuses: list[str] | None = None,
    withdraw_order_id: str | None = None,
    ids: list[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    offset: int = 0,
    limit: int = 1000,
) -> list[Withdrawal]:
    """The user's withdrawals, newest first."""
    rows = Withdrawal.objects.filter(user_id=user_id).select_related("network", "asset")
    rows = _filtered(
        rows,
        asset__code=coin,
        status__in=statuses,
        withdraw_order_id=withdraw_order_id,
        pk__in=ids,
    )
    return _page(rows, "requested_at", start, end, offset, limit)


M = TypeVar("M", bound=Model)


def _filtered(rows: QuerySet[M], **lookups: object) -> QuerySet[M]:
    """`rows` filtered by every lookup whose value is not None."""
    return rows.filter(**{name: value for name, value in lookups.items() if value is not None})


def _page(
    rows: QuerySet[M],
    time_field: str,
    start: datetime | None,
    end: datetime | None,
    offset: int,
    limit: int,
) -> list[M]:
    """Within [start, end] on `time_field`, newest first, `limit` items from `offset`."""
    rows = _filtered(rows, **{f"{time_field}__gte": start, f"{time_field}__lte": end})
    return list(rows.order_by("-id")[offset : offset + limit])


def withdrawal_get(*, user_id: int, withdrawal_id: int) -> Withdrawal | None:
    return (
        Withdrawal.objects.filter(user_id=user_id, pk=withdrawal_id)
        .select_related("network", "asset")
        .first()
    )


def address_book_list(*, user_id: int, coin: str | None = None) -> list[AddressBookEntry]:
    """The user's active address-book entries (see `usable_at` for the cool-down)."""
    rows = AddressBookEntry.objects.filter(user_id=user_id, removed_at=None).select_related(
        "network__asset"
    )
    if coin is not None:
        rows = rows.filter(network__asset__code=coin)
    return list(rows.order_by("network__asset__code", "label", "id"))
