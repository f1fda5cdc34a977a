"""Events emitted by the engine and the read models it returns (INTERFACE.md).

Events are ``typing.NamedTuple``: immutable with named attributes, and the engine builds them
with ``tuple.__new__(Cls, (...))`` on the hot path, which costs a third of a frozen slots
dataclass. Caveat of tuples: two events of different classes with equal fields compare equal, so
compare ``(type(e), e)`` when the class matters. ``match``/``case`` class patterns work.

Every event carries ``seq``: per market, +1 per event, gap-free.
"""

from __future__ import annotations

from typing import NamedTuple

from matching.engine.types import (
    DoneReason,
    MarketState,
    OrderType,
    RejectReason,
    Side,
    STPMode,
    TimeInForce,
)


class OrderAccepted(NamedTuple):
    """The order exists; its queue priority is ``seq``.

    ``resting`` is True when the order (its remainder) is on the book once its own matching is
    done; False for pending stops and for orders that finished (filled / IOC / FOK / MARKET).
    """

    seq: int
    order_id: int
    owner_id: int
    side: Side
    type: OrderType
    price_ticks: int
    qty_lots: int
    resting: bool


class OrderRejected(NamedTuple):
    seq: int
    order_id: int
    owner_id: int
    reason: RejectReason


class TradeExecuted(NamedTuple):
    seq: int
    maker_order_id: int
    taker_order_id: int
    maker_owner_id: int
    taker_owner_id: int
    # The maker's price, in ticks.
    price_ticks: int
    qty_lots: int
    taker_side: Side


class OrderDone(NamedTuple):
    """Final event of an order; ``filled_quote`` = sum(price_ticks * lots) of its trades."""

    seq: int
    order_id: int
    owner_id: int
    reason: DoneReason
    filled_lots: int
    filled_quote: int


class OrderAmended(NamedTuple):
    """``new_qty_lots`` is the new total quantity; ``new_price_ticks`` the effective price.

    If ``priority_kept`` is False the order's new priority is ``seq``.
    """

    seq: int
    order_id: int
    owner_id: int
    new_qty_lots: int
    new_price_ticks: int
    priority_kept: bool


class AmendRejected(NamedTuple):
    seq: int
    order_id: int
    owner_id: int
    reason: RejectReason


class CancelRejected(NamedTuple):
    seq: int
    order_id: int
    owner_id: int
    reason: RejectReason


class StopTriggered(NamedTuple):
    """The stop enters the book now; its priority is ``seq``."""

    seq: int
    order_id: int
    owner_id: int


class MarketStateChanged(NamedTuple):
    seq: int
    state: MarketState


Event = (
    OrderAccepted
    | OrderRejected
    | TradeExecuted
    | OrderDone
    | OrderAmended
    | AmendRejected
    | CancelRejected
    | StopTriggered
    | MarketStateChanged
)


class DepthChanges(NamedTuple):
    """Levels changed in update ids ``first_update_id..last_update_id``: price -> NEW total lots.

    A quantity of 0 means the level is gone.
    """

    first_update_id: int
    last_update_id: int
    bids: dict[int, int]
    asks: dict[int, int]


class OrderSnapshot(NamedTuple):
    """The PlaceOrder fields (current ``qty_lots``/``price_ticks`` after amends) + fill state."""

    order_id: int
    owner_id: int
    side: Side
    type: OrderType
    tif: TimeInForce
    price_ticks: int
    qty_lots: int
    quote_qty: int
    stop_price_ticks: int
    stp: STPMode
    filled_lots: int
    filled_quote: int
    # Queue priority (book orders) or acceptance seq (pending stops; their trigger order).
    priority: int


class RestingOrder(NamedTuple):
    """Read model returned by ``OrderBook.order``: a resting order or a pending stop."""

    order_id: int
    owner_id: int
    side: Side
    type: OrderType
    tif: TimeInForce
    price_ticks: int
    qty_lots: int
    quote_qty: int
    stop_price_ticks: int
    stp: STPMode
    filled_lots: int
    filled_quote: int
    priority: int
    # qty_lots - filled_lots for book orders; for a pending quote-only stop, 0.
    remaining_lots: int
    # True while the stop waits for its trigger (off-book).
    pending_stop: bool


class BookSnapshot(NamedTuple):
    state: MarketState
    last_seq: int
    update_id: int
    last_trade_price_ticks: int
    # Book orders in priority order (restore accepts any order and sorts by priority).
    orders: list[OrderSnapshot]
    # Pending stops in trigger order (acceptance seq).
    stops: list[OrderSnapshot]
