"""Self-trade prevention (the taker's mode decides) and market control states."""

from __future__ import annotations

from matching.engine import (
    AmendOrder,
    AmendRejected,
    CancelAll,
    CancelOrder,
    CancelReplace,
    DoneReason,
    MarketState,
    MarketStateChanged,
    OrderAccepted,
    OrderBook,
    OrderDone,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectReason,
    SetMarketState,
    Side,
    STPMode,
    TimeInForce,
    TradeExecuted,
)
from matching.engine.tests.helpers import check_internals, limit, norm

BUY, SELL = Side.BUY, Side.SELL
LIMIT = OrderType.LIMIT
GTC, FOK = TimeInForce.GTC, TimeInForce.FOK
FILLED, EIM = DoneReason.FILLED, DoneReason.EXPIRED_IN_MATCH


def asks_with_self_trade() -> OrderBook:
    """Asks at 100: order 1 (owner 5, 1 lot), order 2 (owner 7, 2 lots), order 3 (owner 5, 4)."""
    book = OrderBook()
    book.apply(limit(1, 5, SELL, 100, 1))
    book.apply(limit(2, 7, SELL, 100, 2, stp=STPMode.EXPIRE_TAKER))  # maker's mode: irrelevant
    book.apply(limit(3, 5, SELL, 100, 4))
    return book


def test_stp_none_lets_the_owner_trade_with_itself() -> None:
    book = asks_with_self_trade()
    events = book.apply(limit(10, 7, BUY, 100, 3))
    assert [(e.maker_order_id, e.qty_lots) for e in events if isinstance(e, TradeExecuted)] == [
        (1, 1),
        (2, 2),
    ]
    assert events[-1] == OrderDone(9, 10, 7, FILLED, 3, 300)


def test_expire_taker_stops_the_taker_at_its_own_maker() -> None:
    book = asks_with_self_trade()
    events = book.apply(limit(10, 7, BUY, 100, 5, stp=STPMode.EXPIRE_TAKER))
    assert norm(events) == norm(
        [
            OrderAccepted(4, 10, 7, BUY, LIMIT, 100, 5, False),
            TradeExecuted(5, 1, 10, 5, 7, 100, 1, BUY),
            OrderDone(6, 1, 5, FILLED, 1, 100),
            OrderDone(7, 10, 7, EIM, 1, 100),  # the GTC remainder does not rest
        ]
    )
    assert book.depth() == ([], [(100, 6)]) and book.order(2) is not None


def test_expire_maker_removes_the_own_maker_and_goes_on() -> None:
    book = asks_with_self_trade()
    events = book.apply(limit(10, 7, BUY, 100, 5, stp=STPMode.EXPIRE_MAKER))
    assert norm(events) == norm(
        [
            OrderAccepted(4, 10, 7, BUY, LIMIT, 100, 5, False),
            TradeExecuted(5, 1, 10, 5, 7, 100, 1, BUY),
            OrderDone(6, 1, 5, FILLED, 1, 100),
            OrderDone(7, 2, 7, EIM, 0, 0),
            TradeExecuted(8, 3, 10, 5, 7, 100, 4, BUY),
            OrderDone(9, 3, 5, FILLED, 4, 400),
            OrderDone(10, 10, 7, FILLED, 5, 500),
        ]
    )
    assert book.depth() == ([], [])
    check_internals(book)


def test_expire_both_expires_maker_then_taker() -> None:
    book = asks_with_self_trade()
    uid = book.update_id
    events = book.apply(limit(10, 7, BUY, 100, 5, stp=STPMode.EXPIRE_BOTH))
    assert norm(events)[-2:] == norm(
        [OrderDone(7, 2, 7, EIM, 0, 0), OrderDone(8, 10, 7, EIM, 1, 100)]
    )
    assert book.depth() == ([], [(100, 4)])
    assert book.update_id == uid + 2  # one fill, one expired maker


def test_fok_counts_only_what_stp_lets_it_take() -> None:
    book = asks_with_self_trade()  # 1 + (own 2) + 4 lots
    expired = book.apply(limit(10, 7, BUY, 100, 5, stp=STPMode.EXPIRE_TAKER, tif=FOK))
    assert norm(expired)[1:] == norm([OrderDone(5, 10, 7, DoneReason.EXPIRED, 0, 0)])
    assert book.order(2) is not None  # no side effect
    too_much = book.apply(limit(11, 7, BUY, 100, 6, stp=STPMode.EXPIRE_MAKER, tif=FOK))
    assert norm(too_much)[1:] == norm([OrderDone(7, 11, 7, DoneReason.EXPIRED, 0, 0)])
    assert book.order(2) is not None  # an unfillable FOK expires no maker either
    events = book.apply(limit(12, 7, BUY, 100, 5, stp=STPMode.EXPIRE_MAKER, tif=FOK))
    assert events[-1] == OrderDone(14, 12, 7, FILLED, 5, 500)
    assert book.order(2) is None


# -- control ---------------------------------------------------------------------------------


def test_cancel_only_and_halt_reject_places_and_amends_but_not_cancels() -> None:
    for state in (MarketState.CANCEL_ONLY, MarketState.HALT):
        book = OrderBook()
        book.apply(limit(1, 7, BUY, 100, 2))
        book.apply(limit(2, 7, BUY, 99, 2))
        assert norm(book.apply(SetMarketState(state))) == norm([MarketStateChanged(3, state)])
        assert book.state is state
        assert norm(book.apply(limit(3, 8, SELL, 100, 1))) == norm(
            [OrderRejected(4, 3, 8, RejectReason.MARKET_CLOSED)]
        )
        assert norm(book.apply(AmendOrder(1, 7, 1))) == norm(
            [AmendRejected(5, 1, 7, RejectReason.MARKET_CLOSED)]
        )
        assert norm(book.apply(CancelOrder(1, 7))) == norm(
            [OrderDone(6, 1, 7, DoneReason.CANCELED, 0, 0)]
        )
        # cancel-replace: the cancel happens, the place is refused.
        assert norm(book.apply(CancelReplace(2, 7, limit(4, 7, BUY, 98, 1)))) == norm(
            [
                OrderDone(7, 2, 7, DoneReason.CANCELED, 0, 0),
                OrderRejected(8, 4, 7, RejectReason.MARKET_CLOSED),
            ]
        )
        assert book.depth() == ([], [])


def test_state_change_emits_only_on_change_and_trading_resumes() -> None:
    book = OrderBook(last_seq=41)
    assert book.apply(SetMarketState(MarketState.TRADING)) == []
    assert norm(book.apply(SetMarketState(MarketState.HALT))) == norm(
        [MarketStateChanged(42, MarketState.HALT)]
    )
    assert book.apply(SetMarketState(MarketState.HALT)) == []
    book.apply(SetMarketState(MarketState.TRADING))
    assert book.apply(limit(1, 7, BUY, 100, 1))[0] == OrderAccepted(
        44, 1, 7, BUY, LIMIT, 100, 1, True
    )


def test_stops_wait_while_the_market_is_closed() -> None:
    book = OrderBook()
    book.apply(PlaceOrder(1, 7, SELL, OrderType.STOP_LOSS, GTC, 0, 1, 0, 90))
    book.apply(SetMarketState(MarketState.CANCEL_ONLY))
    o = book.order(1)
    assert o is not None and o.pending_stop  # no trades can happen, so nothing triggers


def test_cancel_all_per_owner_and_for_the_market_in_priority_order() -> None:
    book = OrderBook()
    book.apply(limit(1, 7, BUY, 100, 1))
    book.apply(limit(2, 8, BUY, 100, 1))
    book.apply(PlaceOrder(3, 7, SELL, OrderType.STOP_LOSS, GTC, 0, 1, 0, 90))
    book.apply(limit(4, 7, SELL, 105, 2))
    book.apply(AmendOrder(1, 7, 3))  # increase: priority 5, now behind order 4
    events = book.apply(CancelAll(7, DoneReason.CANCELED))
    assert [e.order_id for e in events if isinstance(e, OrderDone)] == [3, 4, 1]
    assert book.depth() == ([(100, 1)], [])
    events = book.apply(CancelAll(None, DoneReason.EXPIRED))
    assert norm(events) == norm([OrderDone(9, 2, 8, DoneReason.EXPIRED, 0, 0)])
    assert book.export().orders == [] and book.export().stops == []
    assert book.apply(CancelAll(None)) == []
