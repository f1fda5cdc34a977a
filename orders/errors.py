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
