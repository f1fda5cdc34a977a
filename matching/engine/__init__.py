"""Matching engine: a pure library (stdlib + sortedcontainers). Integers in, events out.

No Django, I/O or clock here (DESIGN.md); ``matching/engine/ruff.toml`` bans ``django`` and a
test imports the package in a fresh interpreter to prove it. Contract: INTERFACE.md.
"""

from matching.engine.book import OrderBook
from matching.engine.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    Command,
    PlaceOrder,
    SetMarketState,
)
from matching.engine.events import (
    AmendRejected,
    BookSnapshot,
    CancelRejected,
    DepthChanges,
    Event,
    MarketStateChanged,
    OrderAccepted,
    OrderAmended,
    OrderDone,
    OrderRejected,
    OrderSnapshot,
    RestingOrder,
    StopTriggered,
    TradeExecuted,
)
from matching.engine.types import (
    DoneReason,
    MarketState,
    OrderType,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
)

__all__ = [
    "AmendOrder",
    "AmendRejected",
    "BookSnapshot",
    "CancelAll",
    "CancelOrder",
    "CancelRejected",
    "CancelReplace",
    "Command",
    "DepthChanges",
    "DoneReason",
    "Event",
    "MarketState",
    "MarketStateChanged",
    "OrderAccepted",
    "OrderAmended",
    "OrderBook",
    "OrderDone",
    "OrderRejected",
    "OrderSnapshot",
    "OrderType",
    "PlaceOrder",
    "RejectReason",
    "RestingOrder",
    "STPMode",
    "SetMarketState",
    "Side",
    "StopTriggered",
    "TimeInForce",
    "TradeExecuted",
]
