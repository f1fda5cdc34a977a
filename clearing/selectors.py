from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from wallet.models import Asset

from .models import LedgerAccount


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    available: Decimal
    locked: Decimal


def balance_list(*, user_id: int, include_zero: bool = True) -> list[Balance]:
    """The user's available/locked balance for every listed asset, by asset code."""
    rows = LedgerAccount.objects.filter(user_id=user_id).values_list("asset_id", "kind", "balance")
    by_asset: dict[int, dict[str, Decimal]] = {}
    for asset_id, kind, balance in rows:
        by_asset.setdefault(asset_id, {})[kind] = balance
    result = []
    for asset in Asset.objects.order_by("code"):
        kinds = by_asset.get(asset.id, {})
        available = kinds.get(LedgerAccount.Kind.AVAILABLE, Decimal(0))
        locked = kinds.get(LedgerAccount.Kind.LOCKED, Decimal(0))
        if include_zero or available or locked:
            result.append(Balance(asset.code, available, locked))
    return result


def balance_get(*, user_id: int, asset_id: int) -> Balance:
    rows = dict(
        LedgerAccount.objects.filter(user_id=user_id, asset_id=asset_id).values_list(
            "kind", "balance"
        )
    )
    code = Asset.objects.values_list("code", flat=True).get(pk=asset_id)
    return Balance(
        code,
        rows.get(LedgerAccount.Kind.AVAILABLE, Decimal(0)),
        rows.get(LedgerAccount.Kind.LOCKED, Decimal(0)),
    )
