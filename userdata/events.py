"""Binance's user data events (contract 7.4) as dicts, built from primitives: no model, no
query, so the matcher, settlement and the web processes share them.

Decimals arrive formatted (fixed scale strings); times in ms since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def execution_report(
    *,
    event_ms: int,
    symbol: str,
    client_order_id: str,
    side: str,
    order_type: str,
    time_in_force: str,
    qty: str,
    price: str,
    stop_price: str,
    orig_client_order_id: str,
    execution_type: str,
    status: str,
    reject_reason: str,
    order_id: int,
    last_qty: str,
    cumulative_qty: str,
    last_price: str,
    commission: str,
    commission_asset: str | None,
    transaction_ms: int,
    trade_id: int,
    execution_id: int,
    is_working: bool,
    is_maker: bool,
    created_ms: int,
    cumulative_quote: str,
    last_quote: str,
    quote_order_qty: str,
    working_ms: int,
    stp_mode: str,
    zero: str,
    prevented_match_id: int | None = None,
) -> dict[str, Any]:
    """One `executionReport`: an order state change (x NEW, CANCELED, REPLACED, REJECTED,
    EXPIRED, TRADE_PREVENTION) or a fill (x TRADE)."""
    event: dict[str, Any] = {
        "e": "executionReport",
        "E": event_ms,
        "s": symbol,
        "c": client_order_id,
        "S": side,
        "o": order_type,
        "f": time_in_force,
        "q": qty,
        "p": price,
        "P": stop_price,
        "F": zero,  # iceberg quantity: icebergs are not offered
        "g": -1,  # order list id: order lists are not offered
        "C": orig_client_order_id,
        "x": execution_type,
        "X": status,
        "r": reject_reason,
        "i": order_id,
        "l": last_qty,
        "z": cumulative_qty,
        "L": last_price,
        "n": commission,
        "N": commission_asset,
        "T": transaction_ms,
        "t": trade_id,
        "I": execution_id,
        "w": is_working,
        "m": is_maker,
        "M": False,
        "O": created_ms,
        "Z": cumulative_quote,
        "Y": last_quote,
        "Q": quote_order_qty,
        "W": working_ms,
        "V": stp_mode,
    }
    if prevented_match_id is not None:
        event["v"] = prevented_match_id  # Binance sends it only for orders ended by STP
    return event


def account_position(
    *, event_ms: int, update_ms: int, balances: Iterable[tuple[str, str, str]]
) -> dict[str, Any]:
    """`outboundAccountPosition`: the balances (asset, free, locked) that changed."""
    return {
        "e": "outboundAccountPosition",
        "E": event_ms,
        "u": update_ms,
        "B": [{"a": a, "f": f, "l": lk} for a, f, lk in balances],
    }


def balance_update(*, event_ms: int, asset: str, delta: str, clear_ms: int) -> dict[str, Any]:
    """`balanceUpdate`: a deposit, withdrawal or adjustment moved `delta` of the free balance."""
    return {"e": "balanceUpdate", "E": event_ms, "a": asset, "d": delta, "T": clear_ms}


def stream_terminated(*, event_ms: int) -> dict[str, Any]:
    """`eventStreamTerminated`: the stream's key was disabled, closed or expired."""
    return {"e": "eventStreamTerminated", "E": event_ms}
