"""executionReport events (contract 7.4) of one committed matcher batch.

Built after the batch's commit from what the batch already holds (the engine events in order,
the fees, the inserted trade ids, the per-order deltas), plus ONE query per batch for the
orders' static fields (client id, type, time in force, creation time, ...), and only for users
with an open stream (userdata.publish.listening_users): a batch nobody listens to costs one
PUBSUB NUMSUB round trip.

One report per order state change and one per fill (x "TRADE"), in engine order:
OrderAccepted -> NEW; TradeExecuted -> TRADE for each side (X FILLED on the order's last fill of
the batch when the engine finished it FILLED, else PARTIALLY_FILLED); OrderDone -> CANCELED /
EXPIRED / TRADE_PREVENTION (X EXPIRED_IN_MATCH, with v) and nothing for FILLED (its last fill
said so); OrderRejected and the adapter's own rejections -> REJECTED (r = reason);
OrderAmended -> REPLACED; StopTriggered -> NEW with w true.

Price and quantity are the order's values after the batch: an order amended within the batch
shows its new values also in the reports before the amendment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from exchange_site.binance.times import to_ms
from exchange_site.money import ZERO, fmt
from matching.engine import (
    DoneReason,
    OrderAccepted,
    OrderAmended,
    OrderDone,
    OrderRejected,
    Side,
    StopTriggered,
    TradeExecuted,
)
from userdata.events import execution_report

STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
_DONE = {
    DoneReason.CANCELED: ("CANCELED", "CANCELED"),
    DoneReason.EXPIRED: ("EXPIRED", "EXPIRED"),
    DoneReason.EXPIRED_IN_MATCH: ("TRADE_PREVENTION", "EXPIRED_IN_MATCH"),
}


@dataclass(frozen=True, slots=True)
class MarketUnits:
    symbol: str
    tick: Decimal
    step: Decimal
    base: str
    quote: str
    base_precision: int
    quote_precision: int


@dataclass(slots=True)
class _Order:
    user_id: int
    client_order_id: str
    side: str
    type: str
    tif: str
    price: Decimal | None
    stop_price: Decimal | None
    qty: Decimal | None
    quote_qty: Decimal | None
    stp: str
    created_ms: int
    working_ms: int | None
    executed: Decimal  # running, from the state before the batch
    quote_done: Decimal
    status: str


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else to_ms(moment)


def _load(order_ids: Sequence[int]) -> dict[int, _Order]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, user_id, client_order_id, side, type, time_in_force, price, stop_price,"
            " quantity, quote_order_qty, stp_mode, created_at, working_at, executed_qty,"
            " cumulative_quote_qty FROM orders_order WHERE id = ANY(%s::bigint[])",
            ["{" + ",".join(map(str, order_ids)) + "}"],
        )
        rows = cur.fetchall()
    return {
        r[0]: _Order(
            user_id=r[1],
            client_order_id=r[2],
            side=r[3],
            type=r[4],
            tif=r[5] or "GTC",
            price=r[6],
            stop_price=r[7],
            qty=r[8],
            quote_qty=r[9],
            stp=r[10],
            created_ms=_ms(r[11]) or 0,
            working_ms=_ms(r[12]),
            executed=r[13],
            quote_done=r[14],
            status="",
        )
        for r in rows
    }


def execution_reports(
    *,
    commands: Iterable[tuple[int, Sequence[Any]]],
    rejects: Iterable[tuple[int, int, int]],
    units: dict[int, MarketUnits],
    fees: dict[tuple[int, int], tuple[Decimal, Decimal]],
    trade_ids: dict[tuple[int, int], int],
    deltas: dict[int, tuple[int, int]],
    listening: set[int],
    committed_ms: int,
    event_ms: int,
) -> list[tuple[int, dict[str, Any]]]:
    """(user id, executionReport) pairs for the listening users, in engine order.

    `commands`: (market id, the events of one command); `rejects`: (market id, order id, seq)
    rejected by the adapter; `fees`: (market id, trade seq) -> (buyer fee, seller fee);
    `deltas`: order id -> (lots, quote units) the batch executed.
    """
    commands = list(commands)
    rejects = list(rejects)
    last_fill: dict[int, int] = {}  # order id -> seq of its last trade in the batch
    filled: set[int] = set()  # finished FILLED in the batch
    accepted: set[int] = set()
    market_of: dict[int, int] = {}  # order id -> market id
    for mid, events in commands:
        for ev in events:
            t = type(ev)
            if t is TradeExecuted:
                if ev.maker_owner_id in listening:
                    market_of[ev.maker_order_id] = mid
                    last_fill[ev.maker_order_id] = ev.seq
                if ev.taker_owner_id in listening:
                    market_of[ev.taker_order_id] = mid
                    last_fill[ev.taker_order_id] = ev.seq
            elif hasattr(ev, "owner_id") and ev.owner_id in listening:
                market_of[ev.order_id] = mid
                if t is OrderDone and ev.reason == DoneReason.FILLED:
                    filled.add(ev.order_id)
                elif t is OrderAccepted:
                    accepted.add(ev.order_id)
    market_of.update({oid: mid for mid, oid, _ in rejects})
    if not market_of:
        return []
    orders = {oid: o for oid, o in _load(sorted(market_of)).items() if o.user_id in listening}
    for oid, o in orders.items():
        lots, quote_units = deltas.get(oid, (0, 0))
        if lots or quote_units:
            # Rewind the row to before the batch: the reports replay the batch's fills.
            mu = units[market_of[oid]]
            o.executed -= mu.step * lots
            o.quote_done -= mu.tick * mu.step * quote_units
        o.status = "PARTIALLY_FILLED" if o.executed > 0 and oid not in accepted else "NEW"

    out: list[tuple[int, dict[str, Any]]] = []

    def report(
        oid: int, mu: MarketUnits, x: str, *, seq: int, working: bool,
        last_qty: Decimal = ZERO, last_price: Decimal = ZERO, fee: Decimal | None = None,
        fee_asset: str | None = None, trade_id: int = -1, maker: bool = False,
        reason: str = "NONE", v: int | None = None, orig_id: str = "",
    ) -> None:  # fmt: skip
        o = orders[oid]
        qty = o.qty if o.qty is not None else o.executed
        working_ms = o.working_ms
        if working_ms is None:
            working_ms = -1 if o.type in STOP_TYPES else o.created_ms
        out.append((o.user_id, execution_report(
            event_ms=event_ms, symbol=mu.symbol, client_order_id=o.client_order_id, side=o.side,
            order_type=o.type, time_in_force=o.tif, qty=fmt(qty, mu.base_precision),
            price=fmt(o.price, mu.quote_precision),
            stop_price=fmt(o.stop_price, mu.quote_precision),
            orig_client_order_id=orig_id, execution_type=x, status=o.status, reject_reason=reason,
            order_id=oid, last_qty=fmt(last_qty, mu.base_precision),
            cumulative_qty=fmt(o.executed, mu.base_precision),
            last_price=fmt(last_price, mu.quote_precision),
            commission=fmt(fee, _precision(mu, fee_asset)) if fee is not None else "0",
            commission_asset=fee_asset, transaction_ms=committed_ms, trade_id=trade_id,
            execution_id=seq, is_working=working, is_maker=maker, created_ms=o.created_ms,
            cumulative_quote=fmt(o.quote_done, mu.quote_precision),
            last_quote=fmt(last_qty * last_price, mu.quote_precision),
            quote_order_qty=fmt(o.quote_qty, mu.quote_precision), working_ms=working_ms,
            stp_mode=o.stp, zero=fmt(Decimal(0), mu.base_precision), prevented_match_id=v,
        )))  # fmt: skip

    for mid, events in commands:
        mu = units[mid]
        for ev in events:
            t = type(ev)
            if t is TradeExecuted:
                qty = mu.step * ev.qty_lots
                price = mu.tick * ev.price_ticks
                buyer_fee, seller_fee = fees[(mid, ev.seq)]
                tid = trade_ids.get((mid, ev.seq), -1)
                taker_buys = ev.taker_side == Side.BUY
                for oid, is_maker, buys in (
                    (ev.maker_order_id, True, not taker_buys),
                    (ev.taker_order_id, False, taker_buys),
                ):
                    if oid not in orders:
                        continue
                    o = orders[oid]
                    o.executed += qty
                    o.quote_done += qty * price
                    done = oid in filled and last_fill.get(oid) == ev.seq
                    o.status = "FILLED" if done else "PARTIALLY_FILLED"
                    report(
                        oid, mu, "TRADE", seq=ev.seq, working=is_maker and not done,
                        last_qty=qty, last_price=price, fee=buyer_fee if buys else seller_fee,
                        fee_asset=mu.base if buys else mu.quote, trade_id=tid, maker=is_maker,
                    )  # fmt: skip
                continue
            if not hasattr(ev, "order_id") or ev.order_id not in orders:
                continue
            oid = ev.order_id
            o = orders[oid]
            if t is OrderAccepted:
                o.status = "NEW"
                report(oid, mu, "NEW", seq=ev.seq, working=o.type not in STOP_TYPES)
            elif t is OrderDone:
                if ev.reason == DoneReason.FILLED:
                    continue
                x, o.status = _DONE[ev.reason]
                report(
                    oid, mu, x, seq=ev.seq, working=False,
                    v=ev.seq if ev.reason == DoneReason.EXPIRED_IN_MATCH else None,
                    orig_id=o.client_order_id if x == "CANCELED" else "",
                )  # fmt: skip
            elif t is OrderRejected:
                o.status = "REJECTED"
                report(oid, mu, "REJECTED", seq=ev.seq, working=False, reason=ev.reason.name)
            elif t is OrderAmended:
                report(oid, mu, "REPLACED", seq=ev.seq, working=True)
            elif t is StopTriggered:
                o.status = "NEW"
                report(oid, mu, "NEW", seq=ev.seq, working=True)
    for mid, oid, seq in rejects:
        if oid in orders:
            orders[oid].status = "REJECTED"
            report(oid, units[mid], "REJECTED", seq=seq, working=False,
                   reason="MARKET_CONFIG_CHANGED")  # fmt: skip
    return out


def _precision(mu: MarketUnits, asset: str | None) -> int:
    return mu.base_precision if asset == mu.base else mu.quote_precision
