"""Rendering amounts of a market: prices and quote amounts at the quote asset's precision,
quantities at the base asset's (contract: fixed scale = the asset's precision)."""

from __future__ import annotations

from decimal import Decimal

from exchange_site.money import fmt
from orders.models import Market


def price(market: Market, value: Decimal | None) -> str:
    return fmt(value, market.quote.precision)


def qty(market: Market, value: Decimal | None) -> str:
    return fmt(value, market.base.precision)


def quote(market: Market, value: Decimal | None) -> str:
    return fmt(value, market.quote.precision)
