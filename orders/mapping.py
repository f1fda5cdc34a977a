"""The one mapping from an accepted order to the engine's command.

Live placement (orders.services), the matcher's recovery (matching.worker restores its books
from the open rows) and the stream sweep (orders.tasks re-sends lost places) all build the
engine's view of an order here, from the order's fields and the amount its hold was placed
with, so the three cannot disagree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from matching.engine import OrderType, PlaceOrder, Side, STPMode, TimeInForce

from . import units
from .models import Market, Order

T = Order.Type
LIMIT_TYPES = frozenset({T.LIMIT, T.LIMIT_MAKER, T.STOP_LOSS_LIMIT, T.TAKE_PROFIT_LIMIT})
STOP_TYPES = frozenset({T.STOP_LOSS, T.STOP_LOSS_LIMIT, T.TAKE_PROFIT, T.TAKE_PROFIT_LIMIT})
MARKET_LIKE = frozenset({T.MARKET, T.STOP_LOSS, T.TAKE_PROFIT})

SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
TYPES = {t.value: OrderType[t.value] for t in T}
TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
STPS = {s.value: STPMode[s.value] for s in Order.STP}


@units.wide  # exact arithmetic on request-sized decimals (see orders.units)
def engine_fields(
    market: Market,
    *,
    side: str,
    type: str,
    time_in_force: str,
    price: Decimal | None,
    stop_price: Decimal | None,
    quantity: Decimal | None,
    quote_order_qty: Decimal | None,
    stp_mode: str,
    hold_amount: Decimal,
) -> dict[str, Any]:
    """The PlaceOrder fields (without the ids) of an order with these fields and hold.

    Prices and quantities in ticks and lots of the market. A market-like order's spending cap
    (quote units) is its hold when it buys; a market sell by quote amount sells at most its
    hold (in lots) for at most that amount."""
    price_ticks = units.to_ticks(price, market.tick_size) if price else 0
    stop_ticks = units.to_ticks(stop_price, market.tick_size) if stop_price else 0
    qty_lots = units.to_lots(quantity, market.step_size) if quantity else 0
    quote_units = 0
    if type in MARKET_LIKE:
        tick, step = market.tick_size, market.step_size
        if side == "BUY":
            quote_units = max(units.quote_to_units_floor(hold_amount, tick, step), 1)
        elif quote_order_qty is not None:
            qty_lots = units.to_lots(hold_amount, step)
            quote_units = units.quote_to_units_floor(quote_order_qty, tick, step)
    return {
        "side": SIDES[side],
        "type": TYPES[type],
        "tif": TIFS.get(time_in_force, TimeInForce.GTC),
        "price_ticks": price_ticks,
        "qty_lots": qty_lots,
        "quote_qty": quote_units,
        "stop_price_ticks": stop_ticks,
        "stp": STPS[stp_mode],
    }


def order_engine_fields(order: Order, market: Market, hold_amount: Decimal) -> dict[str, Any]:
    """The engine's view of an accepted order row (its PlaceOrder fields without ids)."""
    return engine_fields(
        market,
        side=order.side,
        type=order.type,
        time_in_force=order.time_in_force,
        price=order.price,
        stop_price=order.stop_price,
        quantity=order.quantity,
        quote_order_qty=order.quote_order_qty,
        stp_mode=order.stp_mode,
        hold_amount=hold_amount,
    )


def place_command(order: Order, market: Market, hold_amount: Decimal) -> PlaceOrder:
    """The engine command placing an accepted order."""
    fields = order_engine_fields(order, market, hold_amount)
    return PlaceOrder(order_id=order.id, owner_id=order.user_id, **fields)
