"""Commands accepted by :meth:`matching.engine.OrderBook.apply` (INTERFACE.md).

Commands are ``typing.NamedTuple``: immutable, named fields, and cheap to unpack on the hot path.
Units: ``price_ticks`` / ``stop_price_ticks`` in ticks, ``qty_lots`` in lots, ``quote_qty`` in
quote units (ticks * lots). Never floats.
"""

from __future__ import annotations

from typing import NamedTuple

from matching.engine.types import DoneReason, MarketState, OrderType, Side, STPMode, TimeInForce


class PlaceOrder(NamedTuple):
    order_id: int
    owner_id: int
    side: Side
    type: OrderType
    tif: TimeInForce = TimeInForce.GTC
    price_ticks: int = 0
    # Original (total) quantity in lots; 0 allowed only for MARKET-like orders with quote_qty.
    qty_lots: int = 0
    # Quote budget in ticks*lots for MARKET / STOP_LOSS / TAKE_PROFIT; 0 = no quote limit.
    quote_qty: int = 0
    stop_price_ticks: int = 0
    stp: STPMode = STPMode.NONE


class CancelOrder(NamedTuple):
    order_id: int
    owner_id: int


class AmendOrder(NamedTuple):
    order_id: int
    owner_id: int
    # New ORIGINAL (total) quantity, fills included; must exceed the filled lots.
    new_qty_lots: int
    # 0 = price unchanged.
    new_price_ticks: int = 0


class CancelReplace(NamedTuple):
    """Cancel ``cancel_order_id`` then place ``place`` (STOP_ON_FAILURE)."""

    cancel_order_id: int
    owner_id: int
    place: PlaceOrder


class CancelAll(NamedTuple):
    # None = every order of the market, stops included.
    owner_id: int | None
    reason: DoneReason = DoneReason.CANCELED


class SetMarketState(NamedTuple):
    state: MarketState


Command = PlaceOrder | CancelOrder | AmendOrder | CancelReplace | CancelAll | SetMarketState
