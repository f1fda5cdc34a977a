"""Enums of the matching engine (INTERFACE.md). All are ``IntEnum`` so they travel as plain ints."""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 1
    SELL = 2


class OrderType(IntEnum):
    LIMIT = 1
    LIMIT_MAKER = 2
    MARKET = 3
    STOP_LOSS = 4
    STOP_LOSS_LIMIT = 5
    TAKE_PROFIT = 6
    TAKE_PROFIT_LIMIT = 7


class TimeInForce(IntEnum):
    GTC = 1
    IOC = 2
    FOK = 3


class STPMode(IntEnum):
    """Self-trade prevention; the taker's mode decides (Binance semantics)."""

    NONE = 0
    EXPIRE_TAKER = 1
    EXPIRE_MAKER = 2
    EXPIRE_BOTH = 3


class MarketState(IntEnum):
    TRADING = 1
    CANCEL_ONLY = 2
    HALT = 3


class DoneReason(IntEnum):
    FILLED = 1
    CANCELED = 2
    EXPIRED = 3
    EXPIRED_IN_MATCH = 4


class RejectReason(IntEnum):
    WOULD_TAKE = 1
    MARKET_CLOSED = 2
    DUPLICATE_ORDER = 3
    UNKNOWN_ORDER = 4
    WOULD_TRIGGER_IMMEDIATELY = 5
    INVALID_AMEND = 6
    INVALID_ORDER = 7
