"""Conversion between Decimal amounts and the engine's integers, in one place.

price_ticks = price / tick_size, qty_lots = qty / step_size, quote units = ticks * lots, i.e. one
quote unit is tick_size * step_size of the quote asset. Inexact input is rejected, not rounded.
"""

from __future__ import annotations

from decimal import Decimal

from .errors import filter_failure


def to_ticks(price: Decimal, tick: Decimal) -> int:
    q, r = divmod(price, tick)
    if r:
        raise filter_failure("PRICE_FILTER")
    return int(q)


def to_lots(qty: Decimal, step: Decimal) -> int:
    q, r = divmod(qty, step)
    if r:
        raise filter_failure("LOT_SIZE")
    return int(q)


def quote_to_units_floor(amount: Decimal, tick: Decimal, step: Decimal) -> int:
    """A quote budget in engine units, rounded down: the engine may spend up to it, never more."""
    return int(amount // (tick * step))


def ticks_to_price(ticks: int, tick: Decimal) -> Decimal:
    return tick * ticks


def lots_to_qty(lots: int, step: Decimal) -> Decimal:
    return step * lots


def units_to_quote(units: int, tick: Decimal, step: Decimal) -> Decimal:
    return tick * step * units


def decimal_places(value: Decimal) -> int:
    """Decimal places of a value without its trailing zeros (0.0100 -> 2)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)
