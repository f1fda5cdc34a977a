"""Shared test helpers: command builders, event normalisation and white-box book invariants."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from matching.engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    DoneReason,
    Event,
    MarketState,
    OrderBook,
    OrderType,
    PlaceOrder,
    SetMarketState,
    Side,
    STPMode,
    TimeInForce,
)
from matching.engine.book import _NO_DOWN_STOP, _NO_UP_STOP, _stop_goes_up
from matching.engine.commands import Command

PRICED = {
    OrderType.LIMIT,
    OrderType.LIMIT_MAKER,
    OrderType.STOP_LOSS_LIMIT,
    OrderType.TAKE_PROFIT_LIMIT,
}


def limit(
    oid: int,
    owner: int,
    side: Side,
    price: int,
    qty: int,
    tif: TimeInForce = TimeInForce.GTC,
    stp: STPMode = STPMode.NONE,
) -> PlaceOrder:
    """A LIMIT order (GTC unless told otherwise)."""
    return PlaceOrder(oid, owner, side, OrderType.LIMIT, tif, price, qty, stp=stp)


def norm(events: list[Event]) -> list[tuple[Any, ...]]:
    """(class name, fields...) so events of different classes never compare equal."""
    return [(type(e).__name__, *e) for e in events]


def check_internals(book: OrderBook) -> None:
    """Structural invariants of the engine's private state (FIFO, totals, caches, index)."""
    on_book: set[int] = set()
    for side, levels, prices in (
        (Side.BUY, book._bids, book._bid_prices),
        (Side.SELL, book._asks, book._ask_prices),
    ):
        assert list(prices) == sorted(levels), "sorted prices mirror the level dict"
        for price, level in levels.items():
            live = level.orders()
            assert live, "no empty level"
            assert level.head is live[0] and level.tail is live[-1]
            assert live[0].prv is None and live[-1].nxt is None
            for a, b in pairwise(live):
                assert a.nxt is b and b.prv is a, "doubly linked both ways"
            assert len(live) == level.count
            assert sum(o.rem for o in live) == level.qty
            prios = [o.prio for o in live]
            assert prios == sorted(prios) and len(set(prios)) == len(prios), "FIFO = priority"
            for o in live:
                assert o.side is side and o.price == price and not o.pend
                assert book._index.get(o.oid) is o
                assert o.qty - o.filled == o.rem > 0
                assert o.type in PRICED and o.tif is TimeInForce.GTC, "only GTC limits rest"
                on_book.add(o.oid)
    assert book._best_bid == (book._bid_prices[-1] if book._bid_prices else 0)
    assert book._best_ask == (book._ask_prices[0] if book._ask_prices else 0)
    pending = {oid for oid, o in book._index.items() if o.pend}
    assert set(book._index) == on_book | pending and not (on_book & pending)
    keys = list(book._stops_up) + list(book._stops_down)
    assert sorted(k[2] for k in keys) == sorted(pending)
    for stop, prio, oid in book._stops_up:
        o = book._index[oid]
        assert (o.stop, o.prio) == (stop, prio) and _stop_goes_up(o.side, o.type)
    for stop, prio, oid in book._stops_down:
        o = book._index[oid]
        assert (o.stop, o.prio) == (stop, prio) and not _stop_goes_up(o.side, o.type)
    up, down = book._stops_up, book._stops_down
    assert book._up_min == (up[0][0] if up else _NO_UP_STOP)
    assert book._down_max == (down[-1][0] if down else _NO_DOWN_STOP)
    assert not book._triggered


class RandomStream:
    """Seeded random commands over a tiny price range (lots of crossing, STP and stops).

    Cheaper per command than hypothesis, so the differential and restore tests can run long
    streams; targets are mostly live orders of ``book`` (read, never mutated, here).
    """

    PRICED_TYPES = (OrderType.LIMIT,) * 8 + (
        OrderType.LIMIT_MAKER,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT_LIMIT,
    )
    MARKET_TYPES = (OrderType.MARKET, OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT)

    def __init__(self, seed: int, owners: int = 3, low: int = 96, high: int = 104) -> None:
        import random

        self.rng = random.Random(seed)
        self.owners = owners
        self.low, self.high = low, high
        self.next_id = 1

    def place(self, book: OrderBook) -> PlaceOrder:
        rng = self.rng
        oid = self.next_id
        if book._index and rng.random() < 0.02:
            oid = rng.choice(sorted(book._index))  # duplicate
        else:
            self.next_id += 1
        stp = STPMode.NONE if rng.random() < 0.5 else rng.choice(list(STPMode))
        side = rng.choice((Side.BUY, Side.SELL))
        owner = rng.randint(1, self.owners)
        if rng.random() < 0.8:
            type_ = rng.choice(self.PRICED_TYPES)
            tif = rng.choice((TimeInForce.GTC,) * 4 + (TimeInForce.IOC, TimeInForce.FOK))
            price = rng.randint(self.low, self.high)
            qty, quote = rng.randint(1, 6), 0
        else:
            type_ = rng.choice(self.MARKET_TYPES)
            tif, price = TimeInForce.GTC, 0
            qty = rng.choice((0, rng.randint(1, 8)))
            quote = rng.randint(50, 1500) if not qty or rng.random() < 0.3 else 0
        stop = (
            rng.randint(self.low, self.high)
            if type_
            in (
                OrderType.STOP_LOSS,
                OrderType.STOP_LOSS_LIMIT,
                OrderType.TAKE_PROFIT,
                OrderType.TAKE_PROFIT_LIMIT,
            )
            else 0
        )
        cmd = PlaceOrder(oid, owner, side, type_, tif, price, qty, quote, stop, stp)
        if rng.random() < 0.02:
            malformed: list[dict[str, Any]] = [
                {"price_ticks": 0}, {"qty_lots": -1}, {"tif": 0}, {"side": 3}, {"stp": 7},
                {"price_ticks": 100.0}, {"quote_qty": -1}, {"type": 0},
            ]  # fmt: skip
            cmd = cmd._replace(**rng.choice(malformed))
        return cmd

    def target(self, book: OrderBook) -> tuple[int, int]:
        rng = self.rng
        if book._index and rng.random() < 0.85:
            o = book._index[rng.choice(sorted(book._index))]
            owner = o.owner if rng.random() < 0.9 else rng.randint(1, self.owners)
            return o.oid, owner
        return rng.randint(1, self.next_id + 1), rng.randint(1, self.owners)

    def command(self, book: OrderBook) -> Command:
        rng = self.rng
        if book.state is not MarketState.TRADING and rng.random() < 0.3:
            return SetMarketState(MarketState.TRADING)
        roll = rng.random()
        if roll < 0.55:
            return self.place(book)
        if roll < 0.70:
            return CancelOrder(*self.target(book))
        if roll < 0.86:
            oid, owner = self.target(book)
            o = book._index.get(oid)
            base = o.qty if o is not None else 3
            price = 0 if rng.random() < 0.4 else rng.randint(self.low, self.high)
            return AmendOrder(oid, owner, rng.randint(max(0, base - 3), base + 3), price)
        if roll < 0.96:
            oid, owner = self.target(book)
            return CancelReplace(oid, owner, self.place(book)._replace(owner_id=owner))
        if roll < 0.98:
            reason = rng.choice((DoneReason.CANCELED, DoneReason.EXPIRED))
            return CancelAll(rng.choice((None, *range(1, self.owners + 1))), reason)
        return SetMarketState(rng.choice(list(MarketState)))


class Checker:
    """Invariants checked after every command, independent of the reference model.

    - trades happen at the maker's current price, never worse than the taker's limit;
    - every order's fills (lots and quote) add up to what its OrderDone / snapshot reports;
    - the depth-change stream, replayed into a mirror, equals ``depth()``; update ids grow;
    - the book is never crossed; only GTC limit orders rest (market orders never do);
    - the private structures are consistent (FIFO by priority, totals, caches, index).
    """

    def __init__(self) -> None:
        self.mirror: tuple[dict[int, int], dict[int, int]] = ({}, {})
        self.taken_upto = 0
        self.traded: dict[int, list[int]] = {}  # order id -> [lots, quote]
        self.limit: dict[int, tuple[Side, OrderType, int]] = {}  # id -> side, type, price

    def events(self, book: OrderBook, seq_before: int, events: list[Event]) -> None:
        from matching.engine import OrderAccepted, OrderAmended, OrderDone, TradeExecuted

        assert [e.seq for e in events] == list(range(seq_before + 1, seq_before + len(events) + 1))
        assert book.last_seq == seq_before + len(events)
        for e in events:
            if isinstance(e, OrderAccepted):
                self.limit[e.order_id] = (e.side, e.type, e.price_ticks)
                self.traded[e.order_id] = [0, 0]
            elif isinstance(e, OrderAmended):
                side, type_, _ = self.limit[e.order_id]
                self.limit[e.order_id] = (side, type_, e.new_price_ticks)
            elif isinstance(e, TradeExecuted):
                m_side, _, m_price = self.limit[e.maker_order_id]
                t_side, t_type, t_price = self.limit[e.taker_order_id]
                assert e.price_ticks == m_price, "trade at the maker's price"
                assert m_side is not t_side and e.taker_side is t_side
                assert e.qty_lots > 0
                if t_type in PRICED:  # never worse than the taker's limit
                    if t_side is Side.BUY:
                        assert e.price_ticks <= t_price
                    else:
                        assert e.price_ticks >= t_price
                for oid in (e.maker_order_id, e.taker_order_id):
                    self.traded[oid][0] += e.qty_lots
                    self.traded[oid][1] += e.qty_lots * e.price_ticks
            elif isinstance(e, OrderDone):
                assert self.traded[e.order_id] == [e.filled_lots, e.filled_quote]
                assert book.order(e.order_id) is None or any(
                    isinstance(x, OrderAccepted) and x.order_id == e.order_id and x.seq > e.seq
                    for x in events
                ), "a done order is gone unless its id was reused later in the command"

    def drain_depth(self, book: OrderBook) -> None:
        changes = book.take_depth_changes()
        if changes is None:
            assert book.update_id == self.taken_upto
            return
        assert changes.first_update_id == self.taken_upto + 1
        assert changes.last_update_id == book.update_id > self.taken_upto
        for mirror, diff in zip(self.mirror, (changes.bids, changes.asks), strict=True):
            for price, qty in diff.items():
                assert qty >= 0
                if qty:
                    mirror[price] = qty
                else:
                    mirror.pop(price, None)
        self.taken_upto = changes.last_update_id
        assert book.take_depth_changes() is None

    def book(self, book: OrderBook) -> None:
        bids, asks = book.depth()
        if bids and asks:
            assert bids[0][0] < asks[0][0], "book crossed"
        assert all(q > 0 for _, q in bids + asks)
        self.drain_depth(book)
        assert sorted(self.mirror[0].items(), reverse=True) == bids
        assert sorted(self.mirror[1].items()) == asks
        assert book.depth(2) == (bids[:2], asks[:2])
        snap = book.export()
        for o in snap.orders:  # quantities conserved; only GTC limits rest
            assert 0 <= o.filled_lots < o.qty_lots
            assert self.traded[o.order_id] == [o.filled_lots, o.filled_quote]
            assert o.type in PRICED and o.tif is TimeInForce.GTC
        for o in snap.stops:
            assert o.filled_lots == 0 and o.type not in (OrderType.LIMIT, OrderType.MARKET)
        check_internals(book)
