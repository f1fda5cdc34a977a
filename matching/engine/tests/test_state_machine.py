"""Engine vs naive reference under random command streams (hypothesis stateful testing).

Every event is compared; after every step the invariants of docs/architecture.md hold: the book
is never crossed, quantities are conserved, FIFO holds within a level, no fill is worse than the
taker's limit, market orders never rest, update ids increase and the depth-change stream
reproduces ``depth()``. At teardown the whole stream is replayed on a fresh book and must give
the same events (determinism), which also covers the mid-stream export/restore steps.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from matching.engine import (
    IMPLEMENTATIONS,
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    DoneReason,
    MarketState,
    OrderBook,
    OrderType,
    PlaceOrder,
    SetMarketState,
    Side,
    STPMode,
    TimeInForce,
)
from matching.engine.commands import Command
from matching.engine.tests.helpers import Checker, norm
from matching.engine.tests.reference import RefBook

OWNERS = st.integers(1, 3)
PRICES = st.integers(96, 104)
TYPES = st.sampled_from(
    [OrderType.LIMIT] * 8
    + [OrderType.LIMIT_MAKER, OrderType.MARKET, OrderType.MARKET]
    + [
        OrderType.STOP_LOSS,
        OrderType.STOP_LOSS_LIMIT,
        OrderType.TAKE_PROFIT,
        OrderType.TAKE_PROFIT_LIMIT,
    ]
)
TIFS = st.sampled_from([TimeInForce.GTC] * 4 + [TimeInForce.IOC, TimeInForce.FOK])
STPS = st.sampled_from([STPMode.NONE] * 3 + list(STPMode))
COMMAND_KINDS = st.sampled_from(
    ["place"] * 24 + ["cancel"] * 5 + ["amend"] * 6 + ["cancel_replace"] * 3
    + ["cancel_all", "set_state"]
)  # fmt: skip


@st.composite
def place_fields(draw: st.DrawFn) -> dict[str, Any]:
    type_ = draw(TYPES)
    fields: dict[str, Any] = {
        "owner_id": draw(OWNERS),
        "side": draw(st.sampled_from(Side)),
        "type": type_,
        "tif": draw(TIFS),
        "price_ticks": draw(PRICES),
        "qty_lots": draw(st.integers(1, 6)),
        "quote_qty": 0,
        "stop_price_ticks": 0,
        "stp": draw(STPS),
    }
    if type_ in (OrderType.MARKET, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT):
        fields["price_ticks"] = 0
        mode = draw(st.sampled_from(["base", "quote", "both"]))
        if mode != "base":
            fields["quote_qty"] = draw(st.integers(50, 1500))
        if mode == "quote":
            fields["qty_lots"] = 0
    if type_ not in (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET):
        fields["stop_price_ticks"] = draw(PRICES)
    if draw(st.integers(0, 30)) == 17:  # sometimes malformed
        key = draw(st.sampled_from(["price_ticks", "qty_lots", "tif", "side", "stp", "quote"]))
        bad = {"price_ticks": 0, "qty_lots": -1, "tif": 0, "side": 3, "stp": 9, "quote": -5}
        fields["quote_qty" if key == "quote" else key] = bad[key]
    return fields


class EngineVsReference(RuleBasedStateMachine):
    Book: type[OrderBook] = OrderBook  # one subclass per implementation, below

    def __init__(self) -> None:
        super().__init__()
        self.book = self.Book()
        self.ref = RefBook()
        self.next_id = 1
        self.ids: list[int] = []
        self.history: list[Command] = []
        self.all_events: list[tuple[Any, ...]] = []
        self.checker = Checker()

    # -- driving ---------------------------------------------------------------------------

    def run(self, cmd: Command) -> None:
        seq_before = self.book.last_seq
        events = self.book.apply(cmd)
        expected = self.ref.apply(cmd)
        got = norm(events)
        assert got == expected, f"{cmd}\nengine:    {got}\nreference: {expected}"
        assert self.book.update_id == self.ref.update_id
        self.history.append(cmd)
        self.all_events.extend(got)
        self.checker.events(self.book, seq_before, events)

    def pick_id(self, data: st.DataObject) -> int:
        """Mostly a live order; sometimes a dead or never-used id."""
        live = sorted(self.book._index)
        roll = data.draw(st.integers(0, 9))
        if live and roll < 8:
            return data.draw(st.sampled_from(live))
        if self.ids and roll == 8:
            return data.draw(st.sampled_from(self.ids))
        return data.draw(st.integers(1, self.next_id + 2))

    def owner_for(self, data: st.DataObject, oid: int) -> int:
        o = self.book.order(oid)
        if o is not None and data.draw(st.integers(0, 9)) > 0:
            return o.owner_id
        return data.draw(OWNERS)

    def new_place(self, data: st.DataObject) -> PlaceOrder:
        if self.book._index and data.draw(st.integers(0, 40)) == 17:
            oid = data.draw(st.sampled_from(sorted(self.book._index)))  # duplicate of a live id
        else:
            oid = self.next_id
            self.next_id += 1
            self.ids.append(oid)
        return PlaceOrder(order_id=oid, **data.draw(place_fields()))

    # -- rules -----------------------------------------------------------------------------

    @rule(data=st.data(), kind=COMMAND_KINDS)
    def command(self, data: st.DataObject, kind: str) -> None:
        cmd: Command
        if self.book.state is not MarketState.TRADING and data.draw(st.booleans()):
            kind = "reopen"  # keep closed-market episodes short
        if kind == "place":
            cmd = self.new_place(data)
        elif kind == "cancel":
            oid = self.pick_id(data)
            cmd = CancelOrder(oid, self.owner_for(data, oid))
        elif kind == "amend":
            oid = self.pick_id(data)
            o = self.book.order(oid)
            base = o.qty_lots if o is not None else 3
            qty = data.draw(st.integers(max(0, base - 3), base + 3))
            price = data.draw(st.one_of(st.just(0), PRICES))
            cmd = AmendOrder(oid, self.owner_for(data, oid), qty, price)
        elif kind == "cancel_replace":
            oid = self.pick_id(data)
            owner = self.owner_for(data, oid)
            cmd = CancelReplace(oid, owner, self.new_place(data)._replace(owner_id=owner))
        elif kind == "cancel_all":
            who = data.draw(st.one_of(st.none(), OWNERS))
            reason = data.draw(st.sampled_from([DoneReason.CANCELED, DoneReason.EXPIRED]))
            cmd = CancelAll(who, reason)
        elif kind == "reopen":
            cmd = SetMarketState(MarketState.TRADING)
        else:
            cmd = SetMarketState(data.draw(st.sampled_from(MarketState)))
        self.run(cmd)

    @precondition(lambda self: self.history)
    @rule(data=st.data())
    def export_restore(self, data: st.DataObject) -> None:
        """Continue on a book restored from a snapshot whose orders come shuffled."""
        if data.draw(st.integers(0, 3)):
            return  # keep restores to about one step in 30
        self.checker.drain_depth(self.book)
        snap = self.book.export()
        shuffled = snap._replace(
            orders=data.draw(st.permutations(snap.orders)),
            stops=data.draw(st.permutations(snap.stops)),
        )
        restored = self.Book.restore(shuffled)
        assert restored.export() == snap
        assert restored.depth() == self.book.depth()
        self.book = restored

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def same_book_as_reference(self) -> None:
        assert self.book.depth() == self.ref.depth()
        snap = self.book.export()
        orders, stops = self.ref.export()
        assert [tuple(o) for o in snap.orders] == orders
        assert [tuple(o) for o in snap.stops] == stops
        assert snap.last_seq == self.ref.seq and snap.state == self.ref.state
        assert snap.last_trade_price_ticks == self.ref.last_price

    @invariant()
    def book_invariants(self) -> None:
        self.checker.book(self.book)

    def teardown(self) -> None:
        replay = self.Book()
        events = [ev for cmd in self.history for ev in norm(replay.apply(cmd))]
        assert events == self.all_events, "same commands must give the same events"


_SETTINGS = settings(
    max_examples=150,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# The same machine against each implementation (pure Python, and compiled when built).
for _name, _cls in IMPLEMENTATIONS.items():
    _machine: Any = type(f"EngineVsReference_{_name}", (EngineVsReference,), {"Book": _cls})
    _machine.TestCase.settings = _SETTINGS
    globals()[f"TestEngineVsReference_{_name}"] = _machine.TestCase
