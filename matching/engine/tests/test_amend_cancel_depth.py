"""Amend, cancel, cancel-replace, depth changes, read models and event types."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from matching.engine import (
    AmendOrder,
    AmendRejected,
    CancelOrder,
    CancelRejected,
    CancelReplace,
    DepthChanges,
    DoneReason,
    OrderAccepted,
    OrderAmended,
    OrderBook,
    OrderDone,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectReason,
    Side,
    TimeInForce,
    TradeExecuted,
)
from matching.engine.tests.helpers import check_internals, limit, norm

BUY, SELL = Side.BUY, Side.SELL
LIMIT = OrderType.LIMIT
GTC = TimeInForce.GTC


def makers(events: Sequence[object]) -> list[int]:
    return [e.maker_order_id for e in events if isinstance(e, TradeExecuted)]


def three_bids() -> OrderBook:
    book = OrderBook()
    for oid in (1, 2, 3):
        book.apply(limit(oid, 7, BUY, 100, 5))
    return book


def test_amend_reduce_keeps_priority() -> None:
    book = three_bids()
    uid = book.update_id
    assert norm(book.apply(AmendOrder(1, 7, 2))) == norm([OrderAmended(4, 1, 7, 2, 100, True)])
    assert book.update_id == uid + 1 and book.depth() == ([(100, 12)], [])
    assert makers(book.apply(limit(9, 8, SELL, 100, 3))) == [1, 2]
    check_internals(book)


def test_amend_increase_or_price_change_loses_priority() -> None:
    book = three_bids()
    assert norm(book.apply(AmendOrder(1, 7, 6))) == norm([OrderAmended(4, 1, 7, 6, 100, False)])
    o = book.order(1)
    assert o is not None and o.priority == 4 and o.remaining_lots == 6
    book.apply(AmendOrder(2, 7, 5, 100))  # same qty, same price: nothing changes
    assert book.order(2).priority == 2  # type: ignore[union-attr]
    assert makers(book.apply(limit(9, 8, SELL, 100, 15))) == [2, 3, 1]


def test_amend_counts_fills_and_rejects_at_or_below_filled() -> None:
    book = three_bids()
    book.apply(limit(9, 8, SELL, 100, 3))  # order 1: 3 of 5 filled
    assert norm(book.apply(AmendOrder(1, 7, 3))) == norm(
        [AmendRejected(7, 1, 7, RejectReason.INVALID_AMEND)]
    )
    assert norm(book.apply(AmendOrder(1, 7, 4))) == norm([OrderAmended(8, 1, 7, 4, 100, True)])
    o = book.order(1)
    assert o is not None and (o.qty_lots, o.filled_lots, o.remaining_lots) == (4, 3, 1)
    assert norm(book.apply(AmendOrder(1, 8, 4))) == norm(
        [AmendRejected(9, 1, 8, RejectReason.UNKNOWN_ORDER)]
    )
    assert norm(book.apply(AmendOrder(77, 7, 4))) == norm(
        [AmendRejected(10, 77, 7, RejectReason.UNKNOWN_ORDER)]
    )
    assert book.apply(AmendOrder(1, 7, 4, -1))[0].reason is RejectReason.INVALID_AMEND  # type: ignore[union-attr]


def test_amend_to_a_crossing_price_takes_as_a_taker() -> None:
    book = OrderBook()
    book.apply(limit(1, 7, SELL, 101, 2))
    book.apply(limit(2, 8, BUY, 99, 5))
    events = book.apply(AmendOrder(2, 8, 5, 101))
    assert norm(events) == norm(
        [
            OrderAmended(3, 2, 8, 5, 101, False),
            TradeExecuted(4, 1, 2, 7, 8, 101, 2, BUY),
            OrderDone(5, 1, 7, DoneReason.FILLED, 2, 202),
        ]
    )
    assert book.depth() == ([(101, 3)], [])
    o = book.order(2)
    assert o is not None and (o.filled_lots, o.filled_quote, o.priority) == (2, 202, 3)


def test_limit_maker_amend_that_would_take_is_rejected() -> None:
    book = OrderBook()
    book.apply(limit(1, 7, SELL, 101, 2))
    book.apply(PlaceOrder(2, 8, BUY, OrderType.LIMIT_MAKER, GTC, 99, 5))
    assert norm(book.apply(AmendOrder(2, 8, 5, 101))) == norm(
        [AmendRejected(3, 2, 8, RejectReason.WOULD_TAKE)]
    )
    assert book.order(2).price_ticks == 99  # type: ignore[union-attr]


def test_amend_pending_stop_keeps_trigger_order() -> None:
    book = OrderBook()
    book.apply(PlaceOrder(1, 7, BUY, OrderType.STOP_LOSS_LIMIT, GTC, 105, 2, 0, 101))
    book.apply(PlaceOrder(2, 7, BUY, OrderType.STOP_LOSS, GTC, 0, 2, 0, 101))
    assert norm(book.apply(AmendOrder(1, 7, 9, 106))) == norm([OrderAmended(3, 1, 7, 9, 106, True)])
    # A MARKET-like stop has no price to amend.
    assert book.apply(AmendOrder(2, 7, 3, 5))[0].reason is RejectReason.INVALID_AMEND  # type: ignore[union-attr]
    snap = book.export()
    assert [(s.order_id, s.qty_lots, s.price_ticks, s.priority) for s in snap.stops] == [
        (1, 9, 106, 1),
        (2, 2, 0, 2),
    ]


def test_cancel_and_cancel_rejections() -> None:
    book = three_bids()
    assert norm(book.apply(CancelOrder(2, 8))) == norm(
        [CancelRejected(4, 2, 8, RejectReason.UNKNOWN_ORDER)]
    )
    assert norm(book.apply(CancelOrder(2, 7))) == norm(
        [OrderDone(5, 2, 7, DoneReason.CANCELED, 0, 0)]
    )
    assert norm(book.apply(CancelOrder(2, 7))) == norm(
        [CancelRejected(6, 2, 7, RejectReason.UNKNOWN_ORDER)]
    )
    assert book.depth() == ([(100, 10)], []) and book.order(2) is None
    assert makers(book.apply(limit(9, 8, SELL, 100, 10))) == [1, 3]


def test_cancel_replace_is_stop_on_failure() -> None:
    book = three_bids()
    assert norm(book.apply(CancelReplace(55, 7, limit(4, 7, BUY, 101, 1)))) == norm(
        [
            CancelRejected(4, 55, 7, RejectReason.UNKNOWN_ORDER),
            OrderRejected(5, 4, 7, RejectReason.UNKNOWN_ORDER),
        ]
    )
    assert norm(book.apply(CancelReplace(1, 7, limit(4, 7, BUY, 101, 1)))) == norm(
        [
            OrderDone(6, 1, 7, DoneReason.CANCELED, 0, 0),
            OrderAccepted(7, 4, 7, BUY, LIMIT, 101, 1, True),
        ]
    )
    # The replacement may reuse the canceled id.
    assert book.apply(CancelReplace(4, 7, limit(4, 7, BUY, 99, 2)))[1] == OrderAccepted(
        9, 4, 7, BUY, LIMIT, 99, 2, True
    )


def test_many_cancels_inside_a_level_keep_fifo() -> None:
    """Cancels from the middle of a long level keep the FIFO order of the rest."""
    book = OrderBook()
    for oid in range(1, 201):
        book.apply(limit(oid, 7, SELL, 100, 1))
    for oid in range(2, 200):
        if oid % 5:
            book.apply(CancelOrder(oid, 7))  # never the front one
    check_internals(book)
    assert book._asks[100].count == 41
    alive = [1, *[oid for oid in range(2, 200) if not oid % 5], 200]
    assert book.depth() == ([], [(100, len(alive))])
    assert makers(book.apply(limit(999, 8, BUY, 100, len(alive)))) == alive
    assert book.depth() == ([], []) and not book._asks


def test_depth_changes_report_new_level_totals() -> None:
    book = OrderBook(update_id=10)
    assert book.take_depth_changes() is None
    book.apply(limit(1, 7, BUY, 100, 5))
    book.apply(limit(2, 7, BUY, 99, 1))
    book.apply(limit(3, 8, SELL, 101, 2))
    assert book.take_depth_changes() == DepthChanges(11, 13, {100: 5, 99: 1}, {101: 2})
    assert book.take_depth_changes() is None
    book.apply(limit(4, 8, SELL, 100, 6))  # fills 5 at 100, rests 1 at 100
    book.apply(CancelOrder(2, 7))
    changes = book.take_depth_changes()
    assert changes == DepthChanges(14, 16, {100: 0, 99: 0}, {100: 1})
    assert book.depth() == ([], [(100, 1), (101, 2)])
    assert book.depth(1) == ([], [(100, 1)])


def test_events_are_immutable_with_enum_members() -> None:
    book = OrderBook()
    book.apply(limit(1, 7, SELL, 100, 1))
    events = book.apply(PlaceOrder(2, 8, 1, 1, 1, 100, 1))  # type: ignore[arg-type]
    accepted, trade, *_ = events
    assert isinstance(accepted, OrderAccepted) and accepted.side is Side.BUY
    assert accepted.type is OrderType.LIMIT
    assert isinstance(trade, TradeExecuted) and trade.taker_side is Side.BUY
    with pytest.raises(AttributeError):
        trade.qty_lots = 5  # type: ignore[misc]
    assert not dataclasses.is_dataclass(trade)
    match trade:
        case TradeExecuted(maker_order_id=1, taker_order_id=2, qty_lots=1):
            pass
        case _:
            pytest.fail("class pattern must match")


def test_unknown_command_raises() -> None:
    with pytest.raises(TypeError):
        OrderBook().apply(("place", 1))  # type: ignore[arg-type]


def test_seq_continues_from_constructor() -> None:
    book = OrderBook(last_seq=1000, update_id=50)
    assert book.apply(limit(1, 7, BUY, 100, 1))[0].seq == 1001
    assert book.last_seq == 1001 and book.update_id == 51
