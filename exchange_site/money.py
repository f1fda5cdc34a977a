"""Money primitives shared by every app: the one amount column type and Decimal helpers.

Amounts are Decimal in Python and NUMERIC(36, 18) in PostgreSQL; never float.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models

AMOUNT_MAX_DIGITS = 36
AMOUNT_DECIMAL_PLACES = 18
ZERO = Decimal(0)
# Every amount column value is below this (18 integer digits).
AMOUNT_LIMIT = Decimal(10) ** (AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES)
# Request decimals as the Binance contract accepts them: digits, optional fraction,
# no sign, no exponent.
DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")


class AmountField(models.DecimalField):  # type: ignore[type-arg]
    """NUMERIC(36, 18): every amount, price, quantity and fee rate column."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", AMOUNT_MAX_DIGITS)
        kwargs.setdefault("decimal_places", AMOUNT_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


def parse_decimal(raw: str) -> Decimal | None:
    """Parse a plain decimal string as the API accepts it; None when it is not one."""
    if not DECIMAL_RE.fullmatch(raw):
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        return None


def quantize_down(value: Decimal, places: int) -> Decimal:
    """Payouts round down."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def quantize_up(value: Decimal, places: int) -> Decimal:
    """Charges round up."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_UP)


def fmt(value: Decimal | None, places: int = 8) -> str:
    """Fixed-scale plain notation, as the API renders decimals ("0.01000000")."""
    if value is None:
        value = ZERO
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):f}"
