"""A deliberately naive reference model of the engine, written from INTERFACE.md.

Lists and linear scans only: the next maker is found by scanning every resting order, stops by
scanning every pending stop after every trade. It shares no code with ``matching.engine.book``
and exists so the property tests can compare the engine against it event for event.
Events are produced as ``(class_name, fields...)`` tuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from matching.engine.commands import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    PlaceOrder,
    SetMarketState,
)

BUY, SELL = 1, 2
LIMIT, LIMIT_MAKER, MARKET = 1, 2, 3
STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT = 4, 5, 6, 7
GTC, IOC, FOK = 1, 2, 3
NONE, EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH = 0, 1, 2, 3
TRADING = 1
FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH = 1, 2, 3, 4
WOULD_TAKE, MARKET_CLOSED, DUPLICATE_ORDER, UNKNOWN_ORDER = 1, 2, 3, 4
WOULD_TRIGGER_IMMEDIATELY, INVALID_AMEND, INVALID_ORDER = 5, 6, 7

RefEvent = tuple[Any, ...]


@dataclass
class RefOrder:
    order_id: int
    owner_id: int
    side: int
    type: int
    tif: int
    price: int
    qty: int  # total, after amends; 0 for quote-only market-like orders
    quote: int
    stop: int
    stp: int
    filled: int = 0
    filled_quote: int = 0
    priority: int = 0
    pending: bool = False

    def open_lots(self) -> int:
        return self.qty - self.filled

    def is_market(self) -> bool:
        return self.type in (MARKET, STOP_LOSS, TAKE_PROFIT)

    def snapshot(self) -> tuple[int, ...]:
        return (
            self.order_id,
            self.owner_id,
            self.side,
            self.type,
            self.tif,
            self.price,
            self.qty,
            self.quote,
            self.stop,
            self.stp,
            self.filled,
            self.filled_quote,
            self.priority,
        )


def stop_condition(o: RefOrder, last: int) -> bool:
    """Binance: STOP_LOSS* BUY last >= stop, SELL last <= stop; TAKE_PROFIT* the reverse."""
    stop_loss = o.type in (STOP_LOSS, STOP_LOSS_LIMIT)
    if (o.side == BUY) == stop_loss:
        return last >= o.stop
    return last <= o.stop


class RefBook:
    def __init__(self) -> None:
        self.book: list[RefOrder] = []  # resting orders, any order
        self.stops: list[RefOrder] = []  # pending stops, any order
        self.seq = 0
        self.update_id = 0
        self.state = TRADING
        self.last_price = 0
        self.triggered: list[RefOrder] = []
        self.events: list[RefEvent] = []

    # -- helpers ---------------------------------------------------------------------------

    def emit(self, name: str, *fields: Any) -> int:
        self.seq += 1
        self.events.append((name, self.seq, *fields))
        return self.seq

    def live(self, order_id: int) -> RefOrder | None:
        for o in self.book + self.stops:
            if o.order_id == order_id:
                return o
        return None

    def crosses(self, side: int, price: int) -> bool:
        for m in self.book:
            if m.side != side and (m.price <= price if side == BUY else m.price >= price):
                return True
        return False

    def makers_in_order(self, taker_side: int) -> list[RefOrder]:
        opp = [m for m in self.book if m.side != taker_side]
        if taker_side == BUY:
            return sorted(opp, key=lambda m: (m.price, m.priority))
        return sorted(opp, key=lambda m: (-m.price, m.priority))

    def remove(self, o: RefOrder) -> None:
        if o.pending:
            self.stops.remove(o)
        else:
            self.book.remove(o)
            self.update_id += 1

    def done(self, o: RefOrder, reason: int) -> None:
        self.emit("OrderDone", o.order_id, o.owner_id, reason, o.filled, o.filled_quote)

    def depth(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        levels: dict[tuple[int, int], int] = {}
        for o in self.book:
            key = (o.side, o.price)
            levels[key] = levels.get(key, 0) + o.open_lots()
        bids = sorted(((p, q) for (s, p), q in levels.items() if s == BUY), reverse=True)
        asks = sorted((p, q) for (s, p), q in levels.items() if s == SELL)
        return bids, asks

    def export(self) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        return (
            [o.snapshot() for o in sorted(self.book, key=lambda o: o.priority)],
            [o.snapshot() for o in sorted(self.stops, key=lambda o: o.priority)],
        )

    # -- commands --------------------------------------------------------------------------

    def apply(self, cmd: Any) -> list[RefEvent]:
        self.events = []
        if isinstance(cmd, PlaceOrder):
            self.place(cmd)
            self.run_triggered()
        elif isinstance(cmd, CancelOrder):
            self.cancel(cmd.order_id, cmd.owner_id)
        elif isinstance(cmd, AmendOrder):
            self.amend(cmd)
            self.run_triggered()
        elif isinstance(cmd, CancelReplace):
            if self.cancel(cmd.cancel_order_id, cmd.owner_id):
                self.place(cmd.place)
                self.run_triggered()
            else:
                p = cmd.place
                self.emit("OrderRejected", p.order_id, p.owner_id, UNKNOWN_ORDER)
        elif isinstance(cmd, CancelAll):
            victims = [o for o in self.book + self.stops if cmd.owner_id in (None, o.owner_id)]
            for o in sorted(victims, key=lambda o: o.priority):
                self.remove(o)
                self.done(o, cmd.reason)
        elif isinstance(cmd, SetMarketState):
            if cmd.state != self.state:
                self.state = cmd.state
                self.emit("MarketStateChanged", cmd.state)
        else:
            raise TypeError(cmd)
        return self.events

    def cancel(self, order_id: int, owner_id: int) -> bool:
        o = self.live(order_id)
        if o is None or o.owner_id != owner_id:
            self.emit("CancelRejected", order_id, owner_id, UNKNOWN_ORDER)
            return False
        self.remove(o)
        self.done(o, CANCELED)
        return True

    @staticmethod
    def valid(c: PlaceOrder) -> bool:
        ints = all(type(v) is int for v in (c.price_ticks, c.qty_lots, c.quote_qty))
        if not ints or type(c.stop_price_ticks) is not int:
            return False
        if c.side not in (BUY, SELL) or c.type not in range(1, 8) or c.stp not in range(4):
            return False
        if c.type in (LIMIT, LIMIT_MAKER, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT):
            if c.price_ticks <= 0 or c.qty_lots <= 0:
                return False
            if c.type != LIMIT_MAKER and c.tif not in (GTC, IOC, FOK):
                return False
        elif c.qty_lots < 0 or c.quote_qty < 0 or c.qty_lots + c.quote_qty == 0:
            return False
        return not (
            c.type in (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT)
            and c.stop_price_ticks <= 0
        )

    def place(self, c: PlaceOrder) -> None:
        if self.state != TRADING:
            self.emit("OrderRejected", c.order_id, c.owner_id, MARKET_CLOSED)
            return
        if not self.valid(c):
            self.emit("OrderRejected", c.order_id, c.owner_id, INVALID_ORDER)
            return
        if self.live(c.order_id) is not None:
            self.emit("OrderRejected", c.order_id, c.owner_id, DUPLICATE_ORDER)
            return
        if c.type == LIMIT_MAKER:
            tif = GTC
        elif c.type in (MARKET, STOP_LOSS, TAKE_PROFIT):
            tif = c.tif if c.tif in (GTC, IOC, FOK) else GTC
        else:
            tif = c.tif
        o = RefOrder(
            c.order_id, c.owner_id, c.side, c.type, tif, c.price_ticks, c.qty_lots,
            c.quote_qty, c.stop_price_ticks, c.stp,
        )  # fmt: skip
        if c.type in (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT):
            if self.last_price and stop_condition(o, self.last_price):
                self.emit("OrderRejected", c.order_id, c.owner_id, WOULD_TRIGGER_IMMEDIATELY)
                return
            o.pending = True
            o.priority = self.emit(
                "OrderAccepted", o.order_id, o.owner_id, o.side, o.type, o.price, o.qty, False
            )
            self.stops.append(o)
            return
        if c.type == LIMIT_MAKER and self.crosses(c.side, c.price_ticks):
            self.emit("OrderRejected", c.order_id, c.owner_id, WOULD_TAKE)
            return
        o.priority = self.emit(
            "OrderAccepted", o.order_id, o.owner_id, o.side, o.type, o.price, o.qty, False
        )
        at = len(self.events) - 1
        if self.execute(o):
            name, seq, *rest = self.events[at]
            self.events[at] = (name, seq, *rest[:-1], True)

    def fok_possible(self, o: RefOrder) -> bool:
        need = o.open_lots()
        for m in self.makers_in_order(o.side):
            if not (m.price <= o.price if o.side == BUY else m.price >= o.price):
                break
            if o.stp != NONE and m.owner_id == o.owner_id:
                if o.stp == EXPIRE_MAKER:
                    continue
                return False
            need -= m.open_lots()
            if need <= 0:
                return True
        return False

    def execute(self, o: RefOrder) -> bool:
        """Run ``o`` as taker, then rest or finish it. True if it rests."""
        market = o.is_market()
        tif = GTC if market else o.tif
        remaining = o.open_lots() if o.qty else 10**30
        quote_left = o.quote if market and o.quote else None
        stp_hit = False
        # FOK: all or nothing, decided before any side effect (STP expiries included).
        if not (tif == FOK and not self.fok_possible(o)):
            while remaining > 0:
                makers = self.makers_in_order(o.side)
                if not makers:
                    break
                m = makers[0]
                if not market and not (m.price <= o.price if o.side == BUY else m.price >= o.price):
                    break
                if quote_left is not None and quote_left < m.price:
                    break
                if o.stp != NONE and m.owner_id == o.owner_id:
                    if o.stp == EXPIRE_TAKER:
                        stp_hit = True
                        break
                    self.remove(m)
                    self.done(m, EXPIRED_IN_MATCH)
                    if o.stp == EXPIRE_BOTH:
                        stp_hit = True
                        break
                    continue
                fill = min(remaining, m.open_lots())
                if quote_left is not None:
                    fill = min(fill, quote_left // m.price)
                    quote_left -= fill * m.price
                self.emit(
                    "TradeExecuted", m.order_id, o.order_id, m.owner_id, o.owner_id, m.price,
                    fill, o.side,
                )  # fmt: skip
                self.update_id += 1
                m.filled += fill
                m.filled_quote += fill * m.price
                o.filled += fill
                o.filled_quote += fill * m.price
                remaining -= fill
                if m.open_lots() == 0:
                    self.book.remove(m)
                    self.done(m, FILLED)
                self.last_price = m.price
                hit = sorted(
                    (s for s in self.stops if stop_condition(s, self.last_price)),
                    key=lambda s: s.priority,
                )
                for s in hit:
                    self.stops.remove(s)
                self.triggered.extend(hit)
        if stp_hit:
            self.done(o, EXPIRED_IN_MATCH)
        elif remaining == 0 or quote_left == 0:
            self.done(o, FILLED)
        elif market or tif != GTC:
            self.done(o, EXPIRED)
        else:
            self.book.append(o)
            self.update_id += 1
            return True
        return False

    def run_triggered(self) -> None:
        while self.triggered:
            o = self.triggered.pop(0)
            o.pending = False
            o.priority = self.emit("StopTriggered", o.order_id, o.owner_id)
            self.execute(o)

    def amend(self, c: AmendOrder) -> None:
        def reject(reason: int) -> None:
            self.emit("AmendRejected", c.order_id, c.owner_id, reason)

        if self.state != TRADING:
            reject(MARKET_CLOSED)
            return
        o = self.live(c.order_id)
        if o is None or o.owner_id != c.owner_id:
            reject(UNKNOWN_ORDER)
            return
        if type(c.new_qty_lots) is not int or type(c.new_price_ticks) is not int:
            reject(INVALID_AMEND)
            return
        if c.new_qty_lots <= o.filled or c.new_price_ticks < 0:
            reject(INVALID_AMEND)
            return
        if o.type in (STOP_LOSS, TAKE_PROFIT) and (c.new_price_ticks != 0 or o.qty == 0):
            reject(INVALID_AMEND)
            return
        price = c.new_price_ticks or o.price
        if o.pending:
            o.qty = c.new_qty_lots
            o.price = price
            self.emit("OrderAmended", o.order_id, o.owner_id, o.qty, o.price, True)
            return
        if price == o.price and c.new_qty_lots <= o.qty:
            if c.new_qty_lots != o.qty:
                self.update_id += 1
            o.qty = c.new_qty_lots
            self.emit("OrderAmended", o.order_id, o.owner_id, o.qty, o.price, True)
            return
        crossing = self.crosses(o.side, price)
        if crossing and o.type == LIMIT_MAKER:
            reject(WOULD_TAKE)
            return
        self.remove(o)
        o.qty = c.new_qty_lots
        o.price = price
        o.priority = self.emit("OrderAmended", o.order_id, o.owner_id, o.qty, o.price, False)
        self.execute(o)
