"""The order book of one market: price-time priority matching on integers (INTERFACE.md).

Units: prices in ticks, quantities in lots, quote amounts in ticks * lots. No floats, I/O, clock
or Django. Single-threaded: one ``OrderBook`` per market, driven by ``apply`` in stream order.

Layout (the hot path is a resting or crossing LIMIT and a cancel):

- each side: ``dict`` price -> ``_Level`` plus a ``SortedList`` of its prices; the best price is
  cached (``_best_bid`` / ``_best_ask``, 0 = side empty) so the hot path never asks the
  ``SortedList`` unless a level appears or disappears;
- a level holds its total lots, its order count and its orders in priority (FIFO) order as an
  intrusive doubly linked list (``head``/``tail`` on the level, ``prv``/``nxt`` on the order):
  append, pop-front and cancel from the middle are all O(1) with no dead entries to skip or
  compact, so no command pays for an earlier one (flat tail latency);
- ``_index``: order id -> ``_Order`` for every live order (book and pending stops);
- pending stops: two ``SortedList`` of ``(stop_price, priority, order_id)``, one per trigger
  direction, with their nearest stop prices cached so a trade pays two int comparisons.

Invariants: a ``_Level`` exists iff it has at least one order; ``qty`` is the sum of its
orders' ``rem`` and ``count`` their number; a book order has ``rem > 0``; priorities are event
seqs, so appending to a level keeps its list sorted by priority.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, cast

# No stubs upstream; "unused-ignore" keeps this quiet when run with --ignore-missing-imports.
from sortedcontainers import SortedList  # type: ignore[import-untyped, unused-ignore]

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

# A place's fields as they came in: validated below (``type(price) is int`` ...), so compiled
# code must not check them on unpacking (mypyc would raise TypeError for a float price).
_RawPlace = tuple[Any, Any, Any, Any, Any, Any, Any, Any, Any, Any]

# ``tuple.__new__(EventClass, (...))`` skips the generated Python-level ``__new__`` of a
# NamedTuple: about 3x cheaper per event. Typed as returning Any: the caller names the class.
_new: Callable[..., Any] = tuple.__new__

BUY: Final = Side.BUY
SELL: Final = Side.SELL
LIMIT: Final = OrderType.LIMIT
LIMIT_MAKER: Final = OrderType.LIMIT_MAKER
MARKET: Final = OrderType.MARKET
STOP_LOSS: Final = OrderType.STOP_LOSS
STOP_LOSS_LIMIT: Final = OrderType.STOP_LOSS_LIMIT
TAKE_PROFIT: Final = OrderType.TAKE_PROFIT
TAKE_PROFIT_LIMIT: Final = OrderType.TAKE_PROFIT_LIMIT
GTC: Final = TimeInForce.GTC
IOC: Final = TimeInForce.IOC
FOK: Final = TimeInForce.FOK
STP_NONE: Final = STPMode.NONE
EXPIRE_TAKER: Final = STPMode.EXPIRE_TAKER
EXPIRE_MAKER: Final = STPMode.EXPIRE_MAKER
EXPIRE_BOTH: Final = STPMode.EXPIRE_BOTH
TRADING: Final = MarketState.TRADING
FILLED: Final = DoneReason.FILLED
CANCELED: Final = DoneReason.CANCELED
EXPIRED: Final = DoneReason.EXPIRED
EXPIRED_IN_MATCH: Final = DoneReason.EXPIRED_IN_MATCH

# Lookups that validate and normalise an int (or IntEnum) to the enum member in one dict probe.
_SIDE_OF: Final[dict[int, Side]] = {m.value: m for m in Side}
_TYPE_OF: Final[dict[int, OrderType]] = {m.value: m for m in OrderType}
_TIF_OF: Final[dict[int, TimeInForce]] = {m.value: m for m in TimeInForce}
_STP_OF: Final[dict[int, STPMode]] = {m.value: m for m in STPMode}

# Order types that carry a limit price (and a tif; LIMIT_MAKER is always GTC).
_PRICED: Final = frozenset({LIMIT, LIMIT_MAKER, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT})
_STOPS: Final = frozenset({STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT})
_STOP_LOSSES: Final = frozenset({STOP_LOSS, STOP_LOSS_LIMIT})

# "No base quantity limit" for a MARKET order given by quote amount only: more lots than any book.
_UNLIMITED_LOTS: Final = 1 << 62
# Stop caches when no stop waits: no positive trade price reaches them.
_NO_UP_STOP: Final = 1 << 62
_NO_DOWN_STOP: Final = 0


class _Order:
    """A live order. Mutable; never leaves the engine (read models are ``RestingOrder``).

    No ``__init__``: ``_make_order`` fills the slots, which is cheaper than a type call on the
    hot path (3.11 does not specialise calls to classes).
    """

    __slots__ = (
        "filled",
        "fquote",
        "nxt",
        "oid",
        "owner",
        "pend",
        "price",
        "prio",
        "prv",
        "qty",
        "quote",
        "rem",
        "side",
        "stop",
        "stp",
        "tif",
        "type",
    )
    oid: int
    owner: int
    side: Side
    type: OrderType
    tif: TimeInForce
    price: int  # ticks; the limit price (ignored for MARKET-like orders)
    qty: int  # lots; original total after amends (0 = quote-only MARKET-like)
    quote: int  # ticks*lots budget of a MARKET-like order, 0 = none
    stop: int  # ticks
    stp: STPMode
    filled: int  # lots traded so far
    fquote: int  # sum(price_ticks * lots) traded so far
    prio: int  # seq of the event that gave the order its place in the queue
    rem: int  # lots open on the book (> 0 while on a level); taker: lots left to trade
    pend: bool  # True while a stop waits off-book for its trigger
    prv: _Order | None  # neighbours in the level's FIFO list (None at the ends / off-book)
    nxt: _Order | None

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            self.oid,
            self.owner,
            self.side,
            self.type,
            self.tif,
            self.price,
            self.qty,
            self.quote,
            self.stop,
            self.stp,
            self.filled,
            self.fquote,
            self.prio,
        )


def _native_alloc(cls: type[_Order]) -> _Order:
    return cls()


_alloc: Callable[[type[_Order]], _Order] = object.__new__
try:
    _alloc(_Order)
except TypeError:
    # Compiled by mypyc (matching/engine/build.py): a native class allocates through its own
    # constructor, the cheap path there.
    _alloc = _native_alloc


def _make_order(
    oid: int,
    owner: int,
    side: Side,
    type_: OrderType,
    tif: TimeInForce,
    price: int,
    qty: int,
    quote: int,
    stop: int,
    stp: STPMode,
    prio: int,
    rem: int,
    pend: bool,
) -> _Order:
    o = _alloc(_Order)
    o.oid = oid
    o.owner = owner
    o.side = side
    o.type = type_
    o.tif = tif
    o.price = price
    o.qty = qty
    o.quote = quote
    o.stop = stop
    o.stp = stp
    o.filled = 0
    o.fquote = 0
    o.prio = prio
    o.rem = rem
    o.pend = pend
    o.prv = None
    o.nxt = None
    return o


class _Level:
    """One price level: its orders as a FIFO linked list, their count and total lots."""

    __slots__ = ("count", "head", "qty", "tail")

    def __init__(self, first: _Order) -> None:
        first.prv = first.nxt = None
        self.head: _Order | None = first
        self.tail: _Order | None = first
        self.count = 1
        self.qty = first.rem  # lots

    def orders(self) -> list[_Order]:
        """The orders in FIFO order (not for the hot path)."""
        out = []
        o = self.head
        while o is not None:
            out.append(o)
            o = o.nxt
        return out


def _stop_goes_up(side: Side, type_: OrderType) -> bool:
    """True if the stop triggers when the last price rises to it (last >= stop).

    Binance: STOP_LOSS* BUY and TAKE_PROFIT* SELL trigger at last >= stop; STOP_LOSS* SELL and
    TAKE_PROFIT* BUY at last <= stop.
    """
    return (type_ in _STOP_LOSSES) == (side is BUY)


class OrderBook:
    """One market's book. ``apply`` is the only mutator; see INTERFACE.md for the contract."""

    __slots__ = (
        "_ask_changes",
        "_ask_prices",
        "_asks",
        "_best_ask",
        "_best_bid",
        "_bid_changes",
        "_bid_prices",
        "_bids",
        "_down_max",
        "_handlers",
        "_index",
        "_last_price",
        "_seq",
        "_state",
        "_stops_down",
        "_stops_up",
        "_taken_upto",
        "_triggered",
        "_up_min",
        "_update_id",
    )

    def __init__(self, last_seq: int = 0, update_id: int = 0) -> None:
        self._seq = last_seq
        self._update_id = update_id
        self._taken_upto = update_id  # update_id reported by the last take_depth_changes
        self._state: MarketState = TRADING
        self._last_price = 0  # ticks; 0 = no trade yet
        self._bids: dict[int, _Level] = {}
        self._asks: dict[int, _Level] = {}
        self._bid_prices: Any = SortedList()  # ascending; best bid is the last
        self._ask_prices: Any = SortedList()  # ascending; best ask is the first
        self._best_bid = 0  # 0 = no bids
        self._best_ask = 0  # 0 = no asks
        self._bid_changes: dict[int, int] = {}  # price -> new level lots since last take
        self._ask_changes: dict[int, int] = {}
        self._index: dict[int, _Order] = {}
        # (stop_price, priority, order_id); up: trigger when last >= stop, down: last <= stop.
        self._stops_up: Any = SortedList()
        self._stops_down: Any = SortedList()
        self._up_min = _NO_UP_STOP  # smallest stop in _stops_up
        self._down_max = _NO_DOWN_STOP  # largest stop in _stops_down
        self._triggered: list[_Order] = []  # triggered, waiting for the command to finish
        self._handlers: dict[type, Callable[[Any], list[Event]]] = {
            PlaceOrder: self._on_place,
            CancelOrder: self._on_cancel,
            AmendOrder: self._on_amend,
            CancelReplace: self._on_cancel_replace,
            CancelAll: self._on_cancel_all,
            SetMarketState: self._on_set_state,
        }

    # ------------------------------------------------------------------ read side

    @property
    def state(self) -> MarketState:
        return self._state

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def update_id(self) -> int:
        return self._update_id

    @property
    def last_trade_price_ticks(self) -> int:
        return self._last_price

    def depth(
        self, limit: int | None = None
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) as (price_ticks, qty_lots), best first; ``limit`` levels per side."""
        bids, asks = self._bids, self._asks
        bid_prices = list(reversed(self._bid_prices))
        ask_prices = list(self._ask_prices)
        if limit is not None:
            bid_prices = bid_prices[:limit]
            ask_prices = ask_prices[:limit]
        return (
            [(p, bids[p].qty) for p in bid_prices],
            [(p, asks[p].qty) for p in ask_prices],
        )

    def take_depth_changes(self) -> DepthChanges | None:
        """Levels changed since the previous call with their new lots (0 = gone), or None."""
        if self._update_id == self._taken_upto:
            return None
        changes = DepthChanges(
            self._taken_upto + 1, self._update_id, self._bid_changes, self._ask_changes
        )
        self._taken_upto = self._update_id
        self._bid_changes = {}
        self._ask_changes = {}
        return changes

    def order(self, order_id: int) -> RestingOrder | None:
        o = self._index.get(order_id)
        if o is None:
            return None
        return RestingOrder(*o.snapshot(), o.rem, o.pend)

    def export(self) -> BookSnapshot:
        """Everything needed to continue event for event (pending depth changes excluded)."""
        live = sorted(self._index.values(), key=lambda o: o.prio)
        return BookSnapshot(
            self._state,
            self._seq,
            self._update_id,
            self._last_price,
            [o.snapshot() for o in live if not o.pend],
            [o.snapshot() for o in live if o.pend],
        )

    @classmethod
    def restore(cls, snapshot: BookSnapshot) -> OrderBook:
        """Rebuild a book from ``snapshot``; orders and stops may come in any order.

        Does not advance ``update_id`` and starts with no pending depth changes.
        """
        book = cls(snapshot.last_seq, snapshot.update_id)
        book._state = MarketState(snapshot.state)
        book._last_price = snapshot.last_trade_price_ticks
        index = book._index
        for pend, rows in ((False, snapshot.orders), (True, snapshot.stops)):
            for s in sorted(rows, key=lambda s: s.priority):
                type_ = OrderType(s.type)
                rem = s.qty_lots if pend else s.qty_lots - s.filled_lots
                if s.order_id in index or (type_ not in _STOPS if pend else rem <= 0):
                    raise ValueError(f"bad snapshot {'stop' if pend else 'order'} {s!r}")
                o = _make_order(
                    s.order_id, s.owner_id, Side(s.side), type_, TimeInForce(s.tif),
                    s.price_ticks, s.qty_lots, s.quote_qty, s.stop_price_ticks, STPMode(s.stp),
                    s.priority, rem, pend,
                )  # fmt: skip
                o.filled = s.filled_lots
                o.fquote = s.filled_quote
                if pend:
                    index[o.oid] = o
                    book._add_stop(o)
                else:
                    book._rest(o)
        book._update_id = book._taken_upto = snapshot.update_id  # _rest counted the levels
        book._bid_changes = {}
        book._ask_changes = {}
        return book

    # ------------------------------------------------------------------ commands

    def apply(self, cmd: Command) -> list[Event]:
        """Apply one command; return its events (seq-numbered, in order)."""
        cls = cmd.__class__
        # The two hot commands skip the handler table.
        if cls is PlaceOrder:
            return self._on_place(cmd)  # type: ignore[arg-type]
        if cls is CancelOrder:
            return self._on_cancel(cmd)  # type: ignore[arg-type]
        handler = self._handlers.get(cls)
        if handler is None:
            raise TypeError(f"not an engine command: {cmd!r}")
        return handler(cmd)

    def _on_place(self, cmd: PlaceOrder) -> list[Event]:
        oid, owner, side, type_, tif, price, qty, quote, stop, stp = cast("_RawPlace", cmd)
        # Fast path for the bulk of the flow: a well-formed LIMIT GTC (enum members, int
        # fields) that rests without crossing in a trading market. Everything else, and
        # anything in doubt, takes the general path, which treats these orders identically
        # (the differential tests drive both: cancel-replace always uses the general path).
        stp_m = _STP_OF.get(stp)
        if (
            type_ is LIMIT
            and tif is GTC
            and stp_m is not None
            and self._state is TRADING
            and type(price) is int
            and type(qty) is int
            and type(quote) is int
            and type(stop) is int
            and price > 0
            and qty > 0
            and oid not in self._index
        ):
            if side is BUY:
                best = self._best_ask
                rests = not best or price < best
                levels, changes = self._bids, self._bid_changes
            else:
                best = self._best_bid
                rests = side is SELL and price > best  # best == 0: no bids
                levels, changes = self._asks, self._ask_changes
            if rests:
                self._seq = seq = self._seq + 1
                o = _alloc(_Order)  # _make_order inlined
                o.oid = oid
                o.owner = owner
                o.side = side
                o.type = LIMIT
                o.tif = GTC
                o.price = price
                o.qty = qty
                o.quote = quote
                o.stop = stop
                o.stp = stp_m
                o.filled = 0
                o.fquote = 0
                o.prio = seq
                o.rem = qty
                o.pend = False
                o.nxt = None
                level = levels.get(price)  # _rest inlined
                if level is None:
                    self._rest(o)
                else:
                    tail = level.tail
                    tail.nxt = o  # type: ignore[union-attr]  # a level is never empty
                    o.prv = tail
                    level.tail = o
                    level.count += 1
                    changes[price] = level.qty = level.qty + qty
                    self._update_id += 1
                    self._index[oid] = o
                return [_new(OrderAccepted, (seq, oid, owner, side, LIMIT, price, qty, True))]
        events: list[Event] = []
        self._place(cmd, events)
        if self._triggered:
            self._run_triggered(events)
        return events

    def _reject(self, events: list[Event], oid: int, owner: int, reason: RejectReason) -> None:
        self._seq += 1
        events.append(_new(OrderRejected, (self._seq, oid, owner, reason)))

    def _place(self, cmd: PlaceOrder, events: list[Event]) -> None:
        oid, owner, side, type_, tif, price, qty, quote, stop, stp = cast("_RawPlace", cmd)
        if self._state is not TRADING:
            self._reject(events, oid, owner, RejectReason.MARKET_CLOSED)
            return
        # Validate and normalise to enum members (events carry members even if ints came in).
        side_m = _SIDE_OF.get(side)
        stp_m = _STP_OF.get(stp)
        type_m: OrderType | None
        tif_m: TimeInForce | None
        if (
            type_ is LIMIT
            and tif is GTC
            and side_m is not None
            and stp_m is not None
            and type(price) is int
            and type(qty) is int
            and type(quote) is int
            and type(stop) is int
            and price > 0
            and qty > 0
        ):
            # The common case, a well-formed LIMIT GTC (members, not ints), checked in one go.
            type_m = LIMIT
            tif_m = GTC
        else:
            type_m = _TYPE_OF.get(type_)
            if type_m in _PRICED:
                tif_m = GTC if type_m is LIMIT_MAKER else _TIF_OF.get(tif)
                valid = type(price) is int and type(qty) is int and price > 0 and qty > 0
            else:
                # MARKET-like: tif is meaningless; keep a valid value for snapshots.
                tif_m = _TIF_OF.get(tif, GTC)
                valid = (
                    type(qty) is int
                    and type(quote) is int
                    and qty >= 0
                    and quote >= 0
                    and (qty > 0 or quote > 0)
                )
            if (
                not valid
                or side_m is None
                or type_m is None
                or stp_m is None
                or tif_m is None
                or type(price) is not int
                or type(quote) is not int
                or type(stop) is not int
                or (stop <= 0 and type_m in _STOPS)
            ):
                self._reject(events, oid, owner, RejectReason.INVALID_ORDER)
                return
        index = self._index
        if oid in index:
            self._reject(events, oid, owner, RejectReason.DUPLICATE_ORDER)
            return

        if type_m in _STOPS:
            last = self._last_price
            if last and (last >= stop if _stop_goes_up(side_m, type_m) else last <= stop):
                self._reject(events, oid, owner, RejectReason.WOULD_TRIGGER_IMMEDIATELY)
                return
            self._seq = seq = self._seq + 1
            o = _make_order(
                oid, owner, side_m, type_m, tif_m, price, qty, quote, stop, stp_m, seq, qty, True
            )
            index[oid] = o
            self._add_stop(o)
            events.append(_new(OrderAccepted, (seq, oid, owner, side_m, type_m, price, qty, False)))
            return

        is_buy = side_m is BUY
        best_opp = self._best_ask if is_buy else self._best_bid
        if type_m is MARKET:
            crosses = best_opp != 0
        else:
            crosses = best_opp != 0 and (price >= best_opp if is_buy else price <= best_opp)
        if crosses and type_m is LIMIT_MAKER:
            self._reject(events, oid, owner, RejectReason.WOULD_TAKE)
            return

        self._seq = seq = self._seq + 1
        o = _make_order(
            oid, owner, side_m, type_m, tif_m, price, qty, quote, stop, stp_m, seq,
            qty if qty else _UNLIMITED_LOTS, False,
        )  # fmt: skip
        if not crosses and tif_m is GTC and type_m is not MARKET:
            self._rest(o)
            events.append(_new(OrderAccepted, (seq, oid, owner, side_m, type_m, price, qty, True)))
            return
        pos = len(events)
        events.append(_new(OrderAccepted, (seq, oid, owner, side_m, type_m, price, qty, False)))
        if self._take(o, events, crosses):
            events[pos] = _new(OrderAccepted, (seq, oid, owner, side_m, type_m, price, qty, True))

    def _take(self, o: _Order, events: list[Event], crosses: bool) -> bool:
        """Match ``o`` as taker, then finish it (OrderDone) or rest it. True if it rested.

        ``o`` is off-book on entry (it may be in the index: triggered stop); on exit it is in
        the index iff it rests. ``crosses``: the opposite best price is within its limit.
        """
        market = o.type is MARKET or o.type is STOP_LOSS or o.type is TAKE_PROFIT
        tif = GTC if market else o.tif
        is_buy = o.side is BUY
        index = self._index
        append = events.append
        rem = o.rem
        quote_left = o.quote if market and o.quote else -1  # ticks*lots; -1 = no quote limit
        why = 0  # 0, or EXPIRED_IN_MATCH when STP ended the taker
        if crosses and tif is FOK and not self._fok_fillable(o):
            crosses = False
        if crosses:
            oid = o.oid
            owner = o.owner
            side = o.side
            stp = o.stp
            limit = o.price
            if is_buy:
                levels, prices, changes = self._asks, self._ask_prices, self._ask_changes
                best = self._best_ask
            else:
                levels, prices, changes = self._bids, self._bid_prices, self._bid_changes
                best = self._best_bid
            seq = self._seq
            uid = self._update_id
            up_min = self._up_min
            down_max = self._down_max
            filled = 0
            fquote = 0
            while True:  # one price level per turn, best first
                if 0 <= quote_left < best:
                    break  # the quote budget cannot pay one lot at the best price: stop
                level = levels[best]
                m = level.head
                traded = False
                while m is not None:  # makers of the level in FIFO order
                    mrem = m.rem
                    if stp and m.owner == owner:
                        if stp is EXPIRE_TAKER:
                            why = EXPIRED_IN_MATCH
                            break
                        # EXPIRE_MAKER / EXPIRE_BOTH: the maker (the head) leaves the book.
                        nxt = m.nxt
                        level.head = nxt
                        if nxt is None:
                            level.tail = None
                        else:
                            nxt.prv = None
                        del index[m.oid]
                        level.count -= 1
                        changes[best] = level.qty = level.qty - mrem
                        uid += 1
                        seq += 1
                        append(
                            _new(
                                OrderDone,
                                (seq, m.oid, m.owner, EXPIRED_IN_MATCH, m.filled, m.fquote),
                            )
                        )
                        if stp is EXPIRE_BOTH:
                            why = EXPIRED_IN_MATCH
                            break
                        m = nxt
                        continue
                    fill = rem if rem < mrem else mrem
                    if quote_left >= 0:
                        # quote_left >= best here, so at least one lot fits.
                        cap = quote_left // best
                        if cap < fill:
                            fill = cap
                        quote_left -= fill * best
                    notional = fill * best
                    seq += 1
                    append(_new(TradeExecuted, (seq, m.oid, oid, m.owner, owner, best, fill, side)))
                    traded = True
                    rem -= fill
                    filled += fill
                    fquote += notional
                    changes[best] = level.qty = level.qty - fill
                    uid += 1
                    m.filled += fill
                    m.fquote += notional
                    if fill == mrem:  # maker filled: pop the head
                        m.rem = 0
                        nxt = m.nxt
                        level.head = nxt
                        if nxt is None:
                            level.tail = None
                        else:
                            nxt.prv = None
                        del index[m.oid]
                        level.count -= 1
                        seq += 1
                        append(_new(OrderDone, (seq, m.oid, m.owner, FILLED, m.filled, m.fquote)))
                        m = nxt
                    else:
                        m.rem = mrem - fill
                    if not rem or 0 <= quote_left < best:
                        break
                if traded:
                    self._last_price = best
                    if best >= up_min or best <= down_max:
                        self._trigger(best)
                        up_min = self._up_min
                        down_max = self._down_max
                if not level.count:
                    del levels[best]
                    prices.remove(best)
                    best = (prices[0] if is_buy else prices[-1]) if prices else 0
                if why or not rem or not best:
                    break
                if not market and (best > limit if is_buy else best < limit):
                    break
            if is_buy:
                self._best_ask = best
            else:
                self._best_bid = best
            self._seq = seq
            self._update_id = uid
            o.rem = rem
            o.filled += filled
            o.fquote += fquote
        # Finish: done, or rest the remainder (GTC limit only).
        if why:
            reason = why
        elif not rem or not quote_left:
            reason = FILLED
        elif market or tif is not GTC:
            reason = EXPIRED
        else:
            self._rest(o)
            return True
        index.pop(o.oid, None)
        self._seq += 1
        append(_new(OrderDone, (self._seq, o.oid, o.owner, reason, o.filled, o.fquote)))
        return False

    def _fok_fillable(self, o: _Order) -> bool:
        """Could ``o`` fill completely right now, given its STP mode (no side effects)?"""
        need = o.rem
        owner = o.owner
        stp = o.stp
        if o.side is BUY:
            levels = self._asks
            prices: Iterable[int] = self._ask_prices.irange(maximum=o.price)
        else:
            levels = self._bids
            prices = self._bid_prices.irange(minimum=o.price, reverse=True)
        for price in prices:
            m = levels[price].head
            while m is not None:
                if stp and m.owner == owner:
                    if stp is not EXPIRE_MAKER:
                        return False  # the taker would expire here
                    # EXPIRE_MAKER: that maker would be expired and skipped
                else:
                    need -= m.rem
                    if need <= 0:
                        return True
                m = m.nxt
        return False

    def _rest(self, o: _Order) -> None:
        """Append ``o`` (``rem > 0``, off-book) to the back of its level and index it."""
        price = o.price
        is_buy = o.side is BUY
        if is_buy:
            levels, changes = self._bids, self._bid_changes
        else:
            levels, changes = self._asks, self._ask_changes
        level = levels.get(price)
        if level is None:
            levels[price] = _Level(o)
            changes[price] = o.rem
            if is_buy:
                self._bid_prices.add(price)
                if price > self._best_bid:
                    self._best_bid = price
            else:
                self._ask_prices.add(price)
                if not self._best_ask or price < self._best_ask:
                    self._best_ask = price
        else:
            tail = level.tail
            tail.nxt = o  # type: ignore[union-attr]  # a level is never empty
            o.prv = tail
            o.nxt = None
            level.tail = o
            level.count += 1
            changes[price] = level.qty = level.qty + o.rem
        self._update_id += 1
        self._index[o.oid] = o

    def _unlink(self, o: _Order) -> None:
        """Take live ``o`` off the book or the stop lists and out of the index (no event)."""
        del self._index[o.oid]
        if o.pend:
            self._remove_stop(o)
            return
        self._unlink_book(o)

    def _unlink_book(self, o: _Order) -> None:
        """Remove book order ``o`` from its level (already out of the index)."""
        price = o.price
        is_buy = o.side is BUY
        if is_buy:
            level, changes = self._bids[price], self._bid_changes
        else:
            level, changes = self._asks[price], self._ask_changes
        prv = o.prv
        nxt = o.nxt
        if prv is None:
            level.head = nxt
        else:
            prv.nxt = nxt
        if nxt is None:
            level.tail = prv
        else:
            nxt.prv = prv
        level.count -= 1
        changes[price] = level.qty = level.qty - o.rem
        self._update_id += 1
        if not level.count:
            if is_buy:
                del self._bids[price]
                prices = self._bid_prices
                prices.remove(price)
                if price == self._best_bid:
                    self._best_bid = prices[-1] if prices else 0
            else:
                del self._asks[price]
                prices = self._ask_prices
                prices.remove(price)
                if price == self._best_ask:
                    self._best_ask = prices[0] if prices else 0

    # ------------------------------------------------------------------ stops

    def _add_stop(self, o: _Order) -> None:
        key = (o.stop, o.prio, o.oid)
        if _stop_goes_up(o.side, o.type):
            self._stops_up.add(key)
            self._up_min = self._stops_up[0][0]
        else:
            self._stops_down.add(key)
            self._down_max = self._stops_down[-1][0]

    def _remove_stop(self, o: _Order) -> None:
        key = (o.stop, o.prio, o.oid)
        if _stop_goes_up(o.side, o.type):
            self._stops_up.remove(key)
            self._up_min = self._stops_up[0][0] if self._stops_up else _NO_UP_STOP
        else:
            self._stops_down.remove(key)
            self._down_max = self._stops_down[-1][0] if self._stops_down else _NO_DOWN_STOP

    def _trigger(self, price: int) -> None:
        """Move the stops a trade at ``price`` triggers to ``_triggered``, in acceptance order."""
        keys = []
        up = self._stops_up
        while up and up[0][0] <= price:
            keys.append(up.pop(0))
        down = self._stops_down
        while down and down[-1][0] >= price:
            keys.append(down.pop())
        self._up_min = up[0][0] if up else _NO_UP_STOP
        self._down_max = down[-1][0] if down else _NO_DOWN_STOP
        keys.sort(key=lambda k: k[1])
        index = self._index
        self._triggered.extend(index[k[2]] for k in keys)

    def _run_triggered(self, events: list[Event]) -> None:
        """Enter triggered stops in trigger order; their trades may trigger more (appended)."""
        queue = self._triggered
        i = 0
        while i < len(queue):
            o = queue[i]
            i += 1
            self._seq = seq = self._seq + 1
            events.append(_new(StopTriggered, (seq, o.oid, o.owner)))
            o.pend = False
            o.prio = seq
            o.rem = o.qty if o.qty else _UNLIMITED_LOTS
            market = o.type is STOP_LOSS or o.type is TAKE_PROFIT
            if o.side is BUY:
                best = self._best_ask
                crosses = best != 0 and (market or o.price >= best)
            else:
                best = self._best_bid
                crosses = best != 0 and (market or o.price <= best)
            self._take(o, events, crosses)
        queue.clear()

    # ------------------------------------------------------------------ other commands

    def _on_cancel(self, cmd: CancelOrder) -> list[Event]:
        oid, owner = cmd
        index = self._index
        o = index.get(oid)
        self._seq = seq = self._seq + 1
        if o is None or o.owner != owner:
            return [_new(CancelRejected, (seq, oid, owner, RejectReason.UNKNOWN_ORDER))]
        del index[oid]
        if o.pend:
            self._remove_stop(o)
        else:
            self._unlink_book(o)
        return [_new(OrderDone, (seq, oid, owner, CANCELED, o.filled, o.fquote))]

    def _on_cancel_replace(self, cmd: CancelReplace) -> list[Event]:
        cancel_id, owner, place = cmd
        o = self._index.get(cancel_id)
        events: list[Event] = []
        self._seq = seq = self._seq + 1
        if o is None or o.owner != owner:
            events.append(_new(CancelRejected, (seq, cancel_id, owner, RejectReason.UNKNOWN_ORDER)))
            self._reject(events, place.order_id, place.owner_id, RejectReason.UNKNOWN_ORDER)
            return events
        self._unlink(o)
        events.append(_new(OrderDone, (seq, cancel_id, owner, CANCELED, o.filled, o.fquote)))
        self._place(place, events)
        if self._triggered:
            self._run_triggered(events)
        return events

    def _on_amend(self, cmd: AmendOrder) -> list[Event]:
        oid, owner, new_qty, new_price = cmd
        events: list[Event] = []
        if self._state is not TRADING:
            self._seq += 1
            events.append(_new(AmendRejected, (self._seq, oid, owner, RejectReason.MARKET_CLOSED)))
            return events
        o = self._index.get(oid)
        if o is None or o.owner != owner:
            self._seq += 1
            events.append(_new(AmendRejected, (self._seq, oid, owner, RejectReason.UNKNOWN_ORDER)))
            return events
        market_like = o.type is STOP_LOSS or o.type is TAKE_PROFIT
        if (
            type(new_qty) is not int
            or type(new_price) is not int
            or new_qty <= o.filled
            or new_price < 0
            or (market_like and (new_price or not o.qty))
        ):
            # A MARKET-like stop has no price to amend, and a quote-only one no quantity.
            self._seq += 1
            events.append(_new(AmendRejected, (self._seq, oid, owner, RejectReason.INVALID_AMEND)))
            return events
        price = new_price or o.price
        if o.pend:
            # Pending stop: quantity / limit price change; trigger order (priority) is kept.
            o.qty = new_qty
            o.rem = new_qty
            o.price = price
            self._seq += 1
            events.append(_new(OrderAmended, (self._seq, oid, owner, new_qty, price, True)))
            return events
        if price == o.price and new_qty <= o.qty:
            # Reduce (or no-op) in place: priority kept.
            delta = o.qty - new_qty
            if delta:
                o.qty = new_qty
                o.rem -= delta
                if o.side is BUY:
                    level, changes = self._bids[price], self._bid_changes
                else:
                    level, changes = self._asks[price], self._ask_changes
                changes[price] = level.qty = level.qty - delta
                self._update_id += 1
            self._seq += 1
            events.append(_new(OrderAmended, (self._seq, oid, owner, new_qty, price, True)))
            return events
        # Price change or increase: back of the (new) level; may now cross and take.
        is_buy = o.side is BUY
        best_opp = self._best_ask if is_buy else self._best_bid
        crosses = best_opp != 0 and (price >= best_opp if is_buy else price <= best_opp)
        if crosses and o.type is LIMIT_MAKER:
            self._seq += 1
            events.append(_new(AmendRejected, (self._seq, oid, owner, RejectReason.WOULD_TAKE)))
            return events
        self._unlink(o)
        self._seq = seq = self._seq + 1
        o.qty = new_qty
        o.price = price
        o.prio = seq
        o.rem = new_qty - o.filled
        events.append(_new(OrderAmended, (seq, oid, owner, new_qty, price, False)))
        if crosses:
            self._take(o, events, True)
        else:
            self._rest(o)
        if self._triggered:
            self._run_triggered(events)
        return events

    def _on_cancel_all(self, cmd: CancelAll) -> list[Event]:
        owner, reason = cmd
        reason_m = DoneReason(reason)
        victims = [o for o in self._index.values() if owner is None or o.owner == owner]
        victims.sort(key=lambda o: o.prio)
        events: list[Event] = []
        append = events.append
        for o in victims:
            self._unlink(o)
            self._seq += 1
            append(_new(OrderDone, (self._seq, o.oid, o.owner, reason_m, o.filled, o.fquote)))
        return events

    def _on_set_state(self, cmd: SetMarketState) -> list[Event]:
        state = MarketState(cmd.state)
        if state is self._state:
            return []
        self._state = state
        self._seq += 1
        return [_new(MarketStateChanged, (self._seq, state))]
