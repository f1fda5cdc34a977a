"""Rendering the amounts of a market (contract: fixed scale = the asset's precision): prices and
quote amounts at the quote asset's precision, quantities at the base asset's.

Takes the two precisions, not a market, so that the framework knows no app: callers build
`Amounts(market.base.precision, market.quote.precision)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exchange_site.money import fmt


@dataclass(frozen=True, slots=True)
class Amounts:
    base_precision: int
    quote_precision: int

    def price(self, value: Decimal | None) -> str:
        return fmt(value, self.quote_precision)

    def qty(self, value: Decimal | None) -> str:
        return fmt(value, self.base_precision)

    def quote(self, value: Decimal | None) -> str:
        return fmt(value, self.quote_precision)
