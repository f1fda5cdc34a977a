"""Conversion between Decimal amounts and the engine's integers, in one place.

price_ticks = price / tick_size, qty_lots = qty / step_size, quote units = ticks * lots, i.e. one
quote unit is tick_size * step_size of the quote asset. Inexact input is rejected, not rounded.

Arithmetic on request values runs in the WIDE context (80 significant digits) rather than the
default 28-digit one: a request decimal (up to 20 + 20 digits) divided by a tiny tick has more
than 28 digits (DivisionImpossible), and a product of two rounded at 28 digits makes a hold that
does not match the order.
"""

from __future__ import annotations

import decimal
import functools
from collections.abc import Callable
from decimal import Decimal
from typing import ParamSpec, TypeVar

from .errors import filter_failure

# Exact for every product and quotient of two request-sized decimals (2 x 40 digits).
WIDE = decimal.Context(
    prec=80, traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow]
)
# The engine's integers (ticks, lots, quote units) end up in PostgreSQL bigint columns.
ENGINE_INT_MAX = 2**63 - 1

P = ParamSpec("P")
R = TypeVar("R")


def wide(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` with WIDE as the decimal context (the context is per thread and task)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with decimal.localcontext(WIDE):
            return func(*args, **kwargs)

    return wrapper


@wide
def to_ticks(price: Decimal, tick: Decimal) -> int:
    q, r = divmod(price, tick)
    if r:
        raise filter_failure("PRICE_FILTER")
    return int(q)


@wide
def to_lots(qty: Decimal, step: Decimal) -> int:
    q, r = divmod(qty, step)
    if r:
        raise filter_failure("LOT_SIZE")
    return int(q)


@wide
def quote_to_units_floor(amount: Decimal, tick: Decimal, step: Decimal) -> int:
    """A quote budget in engine units, rounded down: the engine may spend up to it, never more."""
    return int(amount // (tick * step))


def ticks_to_price(ticks: int, tick: Decimal) -> Decimal:
    return tick * ticks


def lots_to_qty(lots: int, step: Decimal) -> Decimal:
    return step * lots


@wide
def units_to_quote(units: int, tick: Decimal, step: Decimal) -> Decimal:
    return tick * step * units


def decimal_places(value: Decimal) -> int:
    """Decimal places of a value without its trailing zeros (0.0100 -> 2), exactly: normalize()
    would round to the context's precision first (1.00000000000000000000000000001 -> 1)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return 0
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -exponent - trailing_zeros)
