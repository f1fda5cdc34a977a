"""The standard random command stream of docs/architecture.md's engine target, for the engine and
matcher
benchmarks (and the engine's restore test): ~70% LIMIT GTC orders, about a fifth of them priced
through the opposite touch (takers), ~30% cancels of orders that are resting at that point;
sizes skewed small (1 + geometric), passive prices clustered within a few ticks of the touch.
1,000 owners, no STP. The stream is generated against a scratch book, so that cancels target
live orders. Pure: the engine and the standard library only.
"""

from __future__ import annotations

import random

from matching.engine import CancelOrder, OrderBook, OrderDone, OrderType, PlaceOrder, Side
from matching.engine.commands import Command
from matching.engine.types import TimeInForce

MID_TICKS = 100_000  # reference price for an empty side


def build_stream(n: int, seed: int) -> list[Command]:
    """Generate ``n`` commands; cancels name orders resting at that point of the stream."""
    rng = random.Random(seed)
    book = OrderBook()
    live: list[int] = []  # resting order ids, swap-remove via pos
    pos: dict[int, int] = {}
    cmds: list[Command] = []
    next_id = 1
    buy, sell = Side.BUY, Side.SELL
    limit, gtc = OrderType.LIMIT, TimeInForce.GTC

    def drop(oid: int) -> None:
        i = pos.pop(oid, None)
        if i is None:
            return
        last = live.pop()
        if last != oid:
            live[i] = last
            pos[last] = i

    while len(cmds) < n:
        cmd: Command
        if live and rng.random() < 0.30:
            oid = live[rng.randrange(len(live))]
            owner = book.order(oid)
            assert owner is not None  # live ids are resting by construction
            cmd = CancelOrder(oid, owner.owner_id)
        else:
            is_buy = rng.random() < 0.5
            best_bid, best_ask = book.depth(1)
            bid = best_bid[0][0] if best_bid else 0
            ask = best_ask[0][0] if best_ask else 0
            qty = 1 + min(int(rng.expovariate(0.5)), 60)  # lots; mean ~2.5, long thin tail
            k = min(int(rng.expovariate(0.35)), 40)  # ticks away from the touch
            if rng.random() < 0.2 and (ask if is_buy else bid):
                # Taker: through the opposite touch by 0..2 ticks.
                price = ask + rng.randrange(3) if is_buy else bid - rng.randrange(3)
            elif is_buy:
                price = (bid if bid else (ask - 1 if ask else MID_TICKS)) - k
                if ask and price >= ask:
                    price = ask - 1
            else:
                price = (ask if ask else (bid + 1 if bid else MID_TICKS + 1)) + k
                if bid and price <= bid:
                    price = bid + 1
            cmd = PlaceOrder(
                next_id, rng.randrange(1000), buy if is_buy else sell, limit, gtc, price, qty
            )
            next_id += 1
        events = book.apply(cmd)
        for ev in events:
            if type(ev) is OrderDone:
                drop(ev.order_id)
        if type(cmd) is PlaceOrder and book.order(cmd.order_id) is not None:
            pos[cmd.order_id] = len(live)
            live.append(cmd.order_id)
        cmds.append(cmd)
    return cmds
