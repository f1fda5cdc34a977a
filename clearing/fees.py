"""Trading fees: what each side of a trade pays, and where the fee goes.

The matcher records each trade's fees with the trade (computed here, at the rates in force when
the trade executed); settlement moves them to the system FEES account (`trade_legs`).
"""

from __future__ import annotations

from decimal import Decimal

from exchange_site.money import quantize_up

from .models import LedgerAccount
from .services import Leg

Kind = LedgerAccount.Kind


def trade_fees(
    *,
    qty: Decimal,
    quote: Decimal,
    taker_buys: bool,
    maker_rate: Decimal,
    taker_rate: Decimal,
    base_places: int,
    quote_places: int,
) -> tuple[Decimal, Decimal]:
    """(buyer fee, seller fee): each charged in the asset it receives (the buyer in base, the
    seller in quote), at the taker or maker rate by its role, rounded up (charges round up)."""
    buyer_rate = taker_rate if taker_buys else maker_rate
    seller_rate = maker_rate if taker_buys else taker_rate
    return quantize_up(qty * buyer_rate, base_places), quantize_up(
        quote * seller_rate, quote_places
    )


def trade_legs(
    *,
    buyer: int,
    seller: int,
    qty: Decimal,
    quote: Decimal,
    buyer_fee: Decimal,
    seller_fee: Decimal,
    base_id: int,
    quote_id: int,
) -> list[Leg]:
    """The ledger legs of one trade: each side's locked funds to the other, less its fee, the
    fees to the system FEES account (zero legs dropped)."""
    legs = [
        Leg(buyer, quote_id, Kind.LOCKED, -quote),
        Leg(seller, quote_id, Kind.AVAILABLE, quote - seller_fee),
        Leg(None, quote_id, Kind.FEES, seller_fee),
        Leg(seller, base_id, Kind.LOCKED, -qty),
        Leg(buyer, base_id, Kind.AVAILABLE, qty - buyer_fee),
        Leg(None, base_id, Kind.FEES, buyer_fee),
    ]
    return [leg for leg in legs if leg.amount != 0]
