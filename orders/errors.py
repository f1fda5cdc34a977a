"""Order-path rejections, with the Binance codes and exact messages clients match on."""

from __future__ import annotations

from exchange_site.errors import DomainError


class OrderRejected(DomainError):
    code = -2010


def filter_failure(name: str) -> OrderRejected:
    return OrderRejected(f"Filter failure: {name}", code=-1013)


def too_much_precision(param: str) -> OrderRejected:
    return OrderRejected(f"Parameter '{param}' has too much precision.", code=-1111)


INVALID_SYMBOL = ("Invalid symbol.", -1121)
MARKET_CLOSED = "Market is closed."
DUPLICATE_ORDER = "Duplicate order sent."
UNKNOWN_ORDER = ("Unknown order sent.", -2011)
ORDER_DOES_NOT_EXIST = ("Order does not exist.", -2013)
UNSUPPORTED = ("Unsupported order combination.", -1014)
WOULD_TAKE = "Order would immediately match and take."
WOULD_TRIGGER = "Order would trigger immediately."


def rejected(pair: tuple[str, int]) -> OrderRejected:
    return OrderRejected(pair[0], code=pair[1])


# Why the matcher refused an order or an amend (Order.reject_reason), with the error answered.
ENGINE_REJECTIONS: dict[str, tuple[str, int]] = {
    "WOULD_TAKE": (WOULD_TAKE, -2010),
    "WOULD_TRIGGER_IMMEDIATELY": (WOULD_TRIGGER, -2010),
    "MARKET_CLOSED": (MARKET_CLOSED, -2010),
    "DUPLICATE_ORDER": (DUPLICATE_ORDER, -2010),
    "UNKNOWN_ORDER": UNKNOWN_ORDER,
    "INVALID_AMEND": ("Order amend rejected.", -2038),
    "INVALID_ORDER": UNSUPPORTED,
}


def engine_rejection(reason: str) -> OrderRejected:
    return rejected(ENGINE_REJECTIONS.get(reason, (f"Order rejected ({reason}).", -2010)))
