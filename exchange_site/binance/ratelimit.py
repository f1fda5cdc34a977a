"""Request weight and order-rate limits in Redis (fixed windows).

Counters (each INCRBY + EXPIRE, pipelined):
  rl:w:ip:{ip}:{minute}      weight of every request from the address
  rl:w:key:{id}:{minute}     weight of the requests made with an API key
  rl:o:key:{id}:{10s-slot}   new orders placed with an API key

Two steps, so that nobody spends someone else's quota (contract section 2, "Check order"):
1. `rate_limit_ip`, before any authentication: the request's weight is charged to its address.
   Over the per-IP limit (exchange_site/settings/ratelimits.py) a public request is refused at
   once; a SIGNED one only if its key does not turn out to lift the ceiling (step 2), so a
   missing, unknown or badly signed key is held to the IP limit whatever tier it names.
2. `rate_limit_key`, only after the signature is checked: the key's weight and order counters
   are charged and held to its tier's limits, and the address to max(IP limit, tier limit) (an
   address carrying a pro key's traffic gets the pro ceiling; many default keys behind one
   address still share one default ceiling). The `unlimited` tier is never refused and its key
   step costs no round trip: it is counted in the process only, so its X-MBX-USED-WEIGHT-1M /
   X-MBX-ORDER-COUNT-10S are this process's share.
A request whose signature is wrong charges nothing to the key it names.

Fixed windows allow a burst of up to twice the limit across a window edge; that is Binance's
behaviour too and keeps each step to one round trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings

from exchange_site.redis import get_async_redis

from . import errors
from .auth import SigningKey

WEIGHT_WINDOW_S = 60
ORDER_WINDOW_S = 10


@dataclass(slots=True)
class Usage:
    headers: dict[str, str] = field(default_factory=dict)
    error: errors.ApiError | None = None
    retry_after_s: int = 0


@dataclass(slots=True)
class IpUsage:
    used: int  # weight used by the address in this minute, this request included
    retry_after_s: int  # until the minute ends

    @property
    def over(self) -> bool:
        return self.used > settings.API_RATE_LIMIT_IP_WEIGHT_1M

    def error(self) -> errors.ApiError:
        return errors.too_much_weight(settings.API_RATE_LIMIT_IP_WEIGHT_1M)


async def rate_limit_ip(*, ip: str, weight: int) -> IpUsage:
    """Charge `weight` to the address (step 1, before authentication)."""
    now = time.time()
    counter = f"rl:w:ip:{ip}:{int(now // WEIGHT_WINDOW_S)}"
    pipe = get_async_redis().pipeline(transaction=False)
    pipe.incrby(counter, weight)
    pipe.expire(counter, WEIGHT_WINDOW_S + 1)
    results = await pipe.execute()
    return IpUsage(int(results[0]), WEIGHT_WINDOW_S - int(now % WEIGHT_WINDOW_S))


# (kind, key id, window) -> count, for the keys of a tier without limits; windows of the past
# are dropped as new ones open.
_local: dict[tuple[str, int, int], int] = {}


def _unlimited(key: SigningKey) -> bool:
    limits = settings.API_RATE_LIMITS.get(key.tier) or settings.API_RATE_LIMITS["default"]
    return limits.get("weight_1m") is None and limits.get("orders_10s") is None


def _count_locally(key: SigningKey, weight: int, orders: int, now: float) -> Usage:
    minute, slot = int(now // WEIGHT_WINDOW_S), int(now // ORDER_WINDOW_S)
    wkey, okey = ("w", key.id, minute), ("o", key.id, slot)
    if wkey not in _local or (orders and okey not in _local):
        for stale in [k for k in _local if k[2] < (minute if k[0] == "w" else slot)]:
            del _local[stale]
    used = _local[wkey] = _local.get(wkey, 0) + weight
    usage = Usage()
    usage.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
    if orders:
        placed = _local[okey] = _local.get(okey, 0) + orders
        usage.headers["X-MBX-ORDER-COUNT-10S"] = str(placed)
    return usage


async def rate_limit_key(*, ip: IpUsage, key: SigningKey, weight: int, orders: int) -> Usage:
    """Charge the request to its key, whose signature is checked (step 2); `error` is set when
    the key's or the address's limit is exceeded."""
    now = time.time()
    if _unlimited(key):
        return _count_locally(key, weight, orders, now)
    pipe = get_async_redis().pipeline(transaction=False)
    weight_counter = f"rl:w:key:{key.id}:{int(now // WEIGHT_WINDOW_S)}"
    pipe.incrby(weight_counter, weight)
    pipe.expire(weight_counter, WEIGHT_WINDOW_S + 1)
    if orders:
        order_counter = f"rl:o:key:{key.id}:{int(now // ORDER_WINDOW_S)}"
        pipe.incrby(order_counter, orders)
        pipe.expire(order_counter, ORDER_WINDOW_S + 1)
    results = await pipe.execute()
    key_used = int(results[0])
    orders_used = int(results[2]) if orders else None

    usage = Usage()
    usage.headers["X-MBX-USED-WEIGHT-1M"] = str(key_used)
    if orders_used is not None:
        usage.headers["X-MBX-ORDER-COUNT-10S"] = str(orders_used)
    limits = settings.API_RATE_LIMITS.get(key.tier) or settings.API_RATE_LIMITS["default"]
    weight_limit = limits.get("weight_1m")
    if weight_limit is not None:
        ip_limit = max(settings.API_RATE_LIMIT_IP_WEIGHT_1M, weight_limit)
        if key_used > weight_limit:
            usage.error, usage.retry_after_s = (
                errors.too_much_weight(weight_limit),
                ip.retry_after_s,
            )
        elif ip.used > ip_limit:
            usage.error, usage.retry_after_s = errors.too_much_weight(ip_limit), ip.retry_after_s
    order_limit = limits.get("orders_10s")
    if (
        usage.error is None
        and order_limit is not None
        and orders_used is not None
        and orders_used > order_limit
    ):
        usage.error = errors.too_many_orders(order_limit)
        usage.retry_after_s = ORDER_WINDOW_S - int(now % ORDER_WINDOW_S)
    return usage
