"""Unit tests, one behaviour each: LIMIT (GTC/IOC/FOK), LIMIT_MAKER, MARKET, stop orders."""

from __future__ import annotations

from matching.engine import (
    CancelOrder,
    DoneReason,
    Event,
    OrderAccepted,
    OrderBook,
    OrderDone,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectReason,
    Side,
    StopTriggered,
    TimeInForce,
    TradeExecuted,
)
from matching.engine.tests.helpers import check_internals, limit, norm

BUY, SELL = Side.BUY, Side.SELL
LIMIT, MAKER, MARKET = OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET
GTC, IOC, FOK = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK
FILLED, EXPIRED = DoneReason.FILLED, DoneReason.EXPIRED


def market(oid: int, owner: int, side: Side, qty: int = 0, quote: int = 0) -> PlaceOrder:
    return PlaceOrder(oid, owner, side, MARKET, GTC, 0, qty, quote)


def book_with_asks(*levels: tuple[int, int, int]) -> OrderBook:
    """Asks as (order_id, price_ticks, qty_lots), owner 9, placed in the given order."""
    book = OrderBook()
    for oid, price, qty in levels:
        book.apply(limit(oid, 9, SELL, price, qty))
    return book


def test_limit_rests_and_reports_depth() -> None:
    book = OrderBook()
    assert norm(book.apply(limit(1, 7, BUY, 100, 5))) == norm(
        [OrderAccepted(1, 1, 7, BUY, LIMIT, 100, 5, True)]
    )
    book.apply(limit(2, 7, BUY, 100, 3))
    book.apply(limit(3, 8, SELL, 103, 4))
    assert book.depth() == ([(100, 8)], [(103, 4)])
    assert book.update_id == 3
    o = book.order(1)
    assert o is not None and o.remaining_lots == 5 and o.priority == 1 and not o.pending_stop


def test_limit_crossing_fills_at_maker_prices_best_first_then_rests() -> None:
    book = book_with_asks((1, 101, 2), (2, 100, 3), (3, 100, 1), (4, 103, 9))
    events = book.apply(limit(10, 7, BUY, 101, 8))
    assert norm(events) == norm(
        [
            OrderAccepted(5, 10, 7, BUY, LIMIT, 101, 8, True),
            TradeExecuted(6, 2, 10, 9, 7, 100, 3, BUY),  # best price first
            OrderDone(7, 2, 9, FILLED, 3, 300),
            TradeExecuted(8, 3, 10, 9, 7, 100, 1, BUY),  # then time priority
            OrderDone(9, 3, 9, FILLED, 1, 100),
            TradeExecuted(10, 1, 10, 9, 7, 101, 2, BUY),
            OrderDone(11, 1, 9, FILLED, 2, 202),
        ]
    )
    # 2 lots rest at the limit; 103 was beyond it.
    assert book.depth() == ([(101, 2)], [(103, 9)])
    assert book.last_trade_price_ticks == 101
    check_internals(book)


def test_limit_partial_fill_of_maker_keeps_its_priority() -> None:
    book = book_with_asks((1, 100, 5), (2, 100, 5))
    book.apply(limit(10, 7, BUY, 100, 2))
    events = book.apply(limit(11, 7, BUY, 100, 4))
    assert norm(events)[1:4] == norm(
        [
            TradeExecuted(7, 1, 11, 9, 7, 100, 3, BUY),
            OrderDone(8, 1, 9, FILLED, 5, 500),
            TradeExecuted(9, 2, 11, 9, 7, 100, 1, BUY),
        ]
    )


def test_ioc_fills_what_it_can_and_expires_the_rest() -> None:
    book = book_with_asks((1, 100, 2))
    events = book.apply(limit(10, 7, BUY, 100, 5, IOC))
    assert norm(events) == norm(
        [
            OrderAccepted(2, 10, 7, BUY, LIMIT, 100, 5, False),
            TradeExecuted(3, 1, 10, 9, 7, 100, 2, BUY),
            OrderDone(4, 1, 9, FILLED, 2, 200),
            OrderDone(5, 10, 7, EXPIRED, 2, 200),
        ]
    )
    assert book.depth() == ([], [])
    assert norm(book.apply(limit(11, 7, SELL, 100, 1, IOC))) == norm(
        [OrderAccepted(6, 11, 7, SELL, LIMIT, 100, 1, False), OrderDone(7, 11, 7, EXPIRED, 0, 0)]
    )


def test_fok_is_all_or_nothing() -> None:
    book = book_with_asks((1, 100, 2), (2, 101, 2))
    uid = book.update_id
    assert norm(book.apply(limit(10, 7, BUY, 101, 5, FOK))) == norm(
        [OrderAccepted(3, 10, 7, BUY, LIMIT, 101, 5, False), OrderDone(4, 10, 7, EXPIRED, 0, 0)]
    )
    assert book.update_id == uid and book.depth() == ([], [(100, 2), (101, 2)])
    events = book.apply(limit(11, 7, BUY, 101, 4, FOK))
    assert [type(e) for e in events] == [OrderAccepted, *[TradeExecuted, OrderDone] * 2, OrderDone]
    assert events[-1] == OrderDone(10, 11, 7, FILLED, 4, 402)


def test_limit_maker_rests_or_is_rejected_if_it_would_take() -> None:
    book = book_with_asks((1, 100, 2))
    assert norm(book.apply(PlaceOrder(10, 7, BUY, MAKER, IOC, 100, 1))) == norm(
        [OrderRejected(2, 10, 7, RejectReason.WOULD_TAKE)]
    )
    assert book.order(10) is None
    events = book.apply(PlaceOrder(11, 7, BUY, MAKER, IOC, 99, 1))  # tif ignored: GTC
    assert norm(events) == norm([OrderAccepted(3, 11, 7, BUY, MAKER, 99, 1, True)])
    o = book.order(11)
    assert o is not None and o.tif is GTC


def test_market_by_base_quantity() -> None:
    book = book_with_asks((1, 100, 2), (2, 102, 5))
    events = book.apply(market(10, 7, BUY, qty=4))
    assert norm(events) == norm(
        [
            OrderAccepted(3, 10, 7, BUY, MARKET, 0, 4, False),
            TradeExecuted(4, 1, 10, 9, 7, 100, 2, BUY),
            OrderDone(5, 1, 9, FILLED, 2, 200),
            TradeExecuted(6, 2, 10, 9, 7, 102, 2, BUY),
            OrderDone(7, 10, 7, FILLED, 4, 404),
        ]
    )
    # Book exhausted: the remainder expires, nothing rests.
    events = book.apply(market(11, 7, BUY, qty=10))
    assert events[-1] == OrderDone(11, 11, 7, EXPIRED, 3, 306)
    assert book.depth() == ([], []) and book.order(11) is None


def test_market_on_empty_book_expires() -> None:
    book = OrderBook()
    assert norm(book.apply(market(1, 7, SELL, qty=1))) == norm(
        [OrderAccepted(1, 1, 7, SELL, MARKET, 0, 1, False), OrderDone(2, 1, 7, EXPIRED, 0, 0)]
    )


def test_market_by_quote_cuts_the_fill_to_the_budget() -> None:
    book = book_with_asks((1, 100, 2), (2, 150, 5))
    events = book.apply(market(10, 7, BUY, quote=520))  # 2*100 + 2*150 = 500, 20 left
    assert norm(events) == norm(
        [
            OrderAccepted(3, 10, 7, BUY, MARKET, 0, 0, False),
            TradeExecuted(4, 1, 10, 9, 7, 100, 2, BUY),
            OrderDone(5, 1, 9, FILLED, 2, 200),
            TradeExecuted(6, 2, 10, 9, 7, 150, 2, BUY),
            OrderDone(7, 10, 7, EXPIRED, 4, 500),  # 20 quote cannot buy a lot: dust expires
        ]
    )
    events = book.apply(market(11, 7, BUY, quote=300))  # exactly 2 lots
    assert events[-1] == OrderDone(10, 11, 7, FILLED, 2, 300)
    assert book.depth() == ([], [(150, 1)])


def test_market_with_both_limits_stops_at_the_first_hit() -> None:
    book = book_with_asks((1, 100, 10))
    assert book.apply(market(10, 7, BUY, qty=3, quote=1000))[-1] == OrderDone(
        4, 10, 7, FILLED, 3, 300
    )
    assert book.apply(market(11, 7, BUY, qty=5, quote=250))[-1] == OrderDone(
        7, 11, 7, EXPIRED, 2, 200
    )


def test_market_sell_by_quote() -> None:
    book = OrderBook()
    book.apply(limit(1, 9, BUY, 100, 3))
    book.apply(limit(2, 9, BUY, 90, 3))
    events = book.apply(market(10, 7, SELL, quote=480))  # 3*100 + 2*90 = 480
    assert events[-1] == OrderDone(7, 10, 7, FILLED, 5, 480)
    assert book.depth() == ([(90, 1)], [])


def test_invalid_orders_are_rejected() -> None:
    book = OrderBook()
    bad = [
        limit(1, 7, BUY, 0, 1),
        limit(2, 7, BUY, 100, 0),
        PlaceOrder(3, 7, BUY, LIMIT, GTC, 100.5, 1),  # type: ignore[arg-type]
        PlaceOrder(4, 7, 3, LIMIT, GTC, 100, 1),  # type: ignore[arg-type]
        PlaceOrder(5, 7, BUY, LIMIT, 0, 100, 1),  # type: ignore[arg-type]
        PlaceOrder(6, 7, BUY, LIMIT, GTC, 100, 1, stp=4),  # type: ignore[arg-type]
        market(7, 7, BUY),
        market(8, 7, BUY, qty=-1, quote=10),
        PlaceOrder(9, 7, BUY, OrderType.STOP_LOSS, GTC, 0, 1, 0, 0),
        PlaceOrder(10, 7, BUY, OrderType.STOP_LOSS_LIMIT, GTC, 0, 1, 0, 100),
    ]
    for i, cmd in enumerate(bad):
        assert norm(book.apply(cmd)) == norm(
            [OrderRejected(i + 1, cmd.order_id, 7, RejectReason.INVALID_ORDER)]
        ), cmd
    assert book.export().orders == [] and book.update_id == 0


def test_duplicate_live_order_id_is_rejected() -> None:
    book = OrderBook()
    book.apply(limit(1, 7, BUY, 100, 1))
    assert norm(book.apply(limit(1, 7, BUY, 99, 1))) == norm(
        [OrderRejected(2, 1, 7, RejectReason.DUPLICATE_ORDER)]
    )
    book.apply(CancelOrder(1, 7))
    # Only live ids are known to the engine; the adapter dedups finished ones.
    assert book.apply(limit(1, 7, BUY, 99, 1))[0] == OrderAccepted(4, 1, 7, BUY, LIMIT, 99, 1, True)


# -- stop orders ---------------------------------------------------------------------------


def stop(oid: int, owner: int, side: Side, type_: OrderType, stop_price: int, qty: int,
         price: int = 0, tif: TimeInForce = GTC) -> PlaceOrder:  # fmt: skip
    return PlaceOrder(oid, owner, side, type_, tif, price, qty, 0, stop_price)


def trade_at(book: OrderBook, oid: int, price: int) -> list[Event]:
    """One trade at ``price`` between owners 1 and 2 (a resting sell, then a buy taking it)."""
    book.apply(limit(oid, 1, SELL, price, 1))
    return list(book.apply(limit(oid + 1, 2, BUY, price, 1)))


def test_stop_is_held_off_book_until_the_last_price_triggers_it() -> None:
    book = OrderBook()
    book.apply(limit(1, 9, SELL, 105, 10))
    events = book.apply(stop(2, 7, BUY, OrderType.STOP_LOSS, 103, 3))
    assert norm(events) == norm([OrderAccepted(2, 2, 7, BUY, OrderType.STOP_LOSS, 0, 3, False)])
    assert book.depth() == ([], [(105, 10)])
    o = book.order(2)
    assert o is not None and o.pending_stop
    trade_at(book, 10, 102)  # below the stop: nothing (seqs 3..7)
    o = book.order(2)
    assert o is not None and o.pending_stop
    events = trade_at(book, 20, 103)  # sell 20 rests (8), buy 21 takes it (9..12)
    assert norm(events) == norm(
        [
            OrderAccepted(9, 21, 2, BUY, LIMIT, 103, 1, False),
            TradeExecuted(10, 20, 21, 1, 2, 103, 1, BUY),
            OrderDone(11, 20, 1, FILLED, 1, 103),
            OrderDone(12, 21, 2, FILLED, 1, 103),  # the triggering command finishes first
            StopTriggered(13, 2, 7),
            TradeExecuted(14, 1, 2, 9, 7, 105, 3, BUY),
            OrderDone(15, 2, 7, FILLED, 3, 315),
        ]
    )
    assert book.order(2) is None and book.depth() == ([], [(105, 7)])


def test_trigger_directions_follow_binance() -> None:
    cases = [  # (side, type, stop, triggers on a trade at 100)
        (BUY, OrderType.STOP_LOSS, 100, True),  # last >= stop
        (BUY, OrderType.STOP_LOSS, 101, False),
        (SELL, OrderType.STOP_LOSS, 100, True),  # last <= stop
        (SELL, OrderType.STOP_LOSS, 99, False),
        (BUY, OrderType.TAKE_PROFIT, 100, True),  # last <= stop
        (BUY, OrderType.TAKE_PROFIT, 99, False),
        (SELL, OrderType.TAKE_PROFIT, 100, True),  # last >= stop
        (SELL, OrderType.TAKE_PROFIT, 101, False),
    ]
    for side, type_, stop_price, fires in cases:
        book = OrderBook()
        book.apply(stop(1, 7, side, type_, stop_price, 1))
        events = trade_at(book, 10, 100)
        assert any(isinstance(e, StopTriggered) for e in events) is fires, (side, type_)


def test_stop_that_would_trigger_at_placement_is_rejected() -> None:
    book = OrderBook()
    trade_at(book, 10, 100)
    events = book.apply(stop(1, 7, BUY, OrderType.STOP_LOSS, 100, 1))
    assert norm(events) == norm([OrderRejected(6, 1, 7, RejectReason.WOULD_TRIGGER_IMMEDIATELY)])
    events = book.apply(stop(2, 7, SELL, OrderType.TAKE_PROFIT_LIMIT, 99, 1, price=99))
    assert norm(events) == norm([OrderRejected(7, 2, 7, RejectReason.WOULD_TRIGGER_IMMEDIATELY)])
    events = book.apply(stop(3, 7, BUY, OrderType.STOP_LOSS, 101, 1))
    assert norm(events) == norm([OrderAccepted(8, 3, 7, BUY, OrderType.STOP_LOSS, 0, 1, False)])


def test_stop_limit_becomes_a_resting_limit_with_trigger_priority() -> None:
    book = OrderBook()
    book.apply(stop(1, 7, BUY, OrderType.STOP_LOSS_LIMIT, 101, 4, price=99))
    book.apply(limit(2, 8, BUY, 99, 1))  # accepted after the stop, but rests before its trigger
    events = trade_at(book, 10, 101)
    trig = next(e for e in events if isinstance(e, StopTriggered))
    assert isinstance(events[-1], StopTriggered)  # nothing to take at 99: it rests
    o = book.order(1)
    assert o is not None and not o.pending_stop and o.priority == trig.seq
    assert o.type is OrderType.STOP_LOSS_LIMIT and o.remaining_lots == 4
    assert book.depth() == ([(99, 5)], [])
    fills = book.apply(limit(30, 9, SELL, 99, 2))
    assert [e.maker_order_id for e in fills if isinstance(e, TradeExecuted)] == [2, 1]


def test_triggered_stops_enter_by_trade_then_acceptance_and_cascade() -> None:
    book = OrderBook()
    # Asks the stops will buy from.
    book.apply(limit(1, 9, SELL, 101, 1))
    book.apply(limit(2, 9, SELL, 102, 1))
    book.apply(limit(3, 9, SELL, 103, 1))
    book.apply(limit(4, 9, SELL, 104, 5))
    # Stop 12 (stop 101) accepted before stop 11 (stop 101) -> 12 enters first.
    book.apply(stop(12, 7, BUY, OrderType.STOP_LOSS, 101, 1))
    book.apply(stop(11, 7, BUY, OrderType.STOP_LOSS, 101, 1))
    book.apply(stop(13, 7, BUY, OrderType.STOP_LOSS, 103, 1))  # triggered by stop 11's trade
    book.apply(stop(14, 7, BUY, OrderType.STOP_LOSS, 102, 1))  # triggered by stop 12's trade
    events = book.apply(limit(20, 8, BUY, 101, 1))
    order = [e.order_id for e in events if isinstance(e, StopTriggered)]
    assert order == [12, 11, 14, 13]
    prices = [e.price_ticks for e in events if isinstance(e, TradeExecuted)]
    assert prices == [101, 102, 103, 104, 104]
    assert book.last_trade_price_ticks == 104


def test_stop_with_no_last_price_is_accepted_and_cancelable() -> None:
    book = OrderBook()
    book.apply(stop(1, 7, SELL, OrderType.STOP_LOSS, 100, 1))
    assert norm(book.apply(CancelOrder(1, 7))) == norm(
        [OrderDone(2, 1, 7, DoneReason.CANCELED, 0, 0)]
    )
    assert book.export().stops == [] and book.order(1) is None
    check_internals(book)
