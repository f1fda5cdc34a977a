"""Request weight and order-rate limits in Redis (fixed windows, one round trip per request).

Counters (each INCRBY + EXPIRE in one pipeline):
  rl:w:ip:{ip}:{minute}      weight of every request from the address
  rl:w:key:{id}:{minute}     weight of the requests made with an API key
  rl:o:key:{id}:{10s-slot}   new orders placed with an API key

Limits (exchange_site/settings/ratelimits.py): a request without a valid key is held to the
per-IP limit; a request with a key to its tier's limit, both on the key's counter and on the
address's counter (an address carrying a pro key's traffic gets the pro ceiling; many default
keys behind one address still share one default ceiling). A key whose tier has no limit at
all (`unlimited`) is never refused and costs no round trip: it is counted in the process only,
so its X-MBX-USED-WEIGHT-1M / X-MBX-ORDER-COUNT-10S are this process's share. Fixed windows
allow a burst of up to twice the limit across a window edge; that
is Binance's behaviour too and keeps this to one round trip.
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


# (key id, window) -> count, for the keys of a tier without limits; windows of the past are
# dropped as new ones open.
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


async def rate_limit_hit(*, ip: str, key: SigningKey | None, weight: int, orders: int) -> Usage:
    """Count this request and say whether it is over a limit (then `error` is set)."""
    now = time.time()
    if key is not None and _unlimited(key):
        return _count_locally(key, weight, orders, now)
    minute = int(now // WEIGHT_WINDOW_S)
    pipe = get_async_redis().pipeline(transaction=False)
    counters = [f"rl:w:ip:{ip}:{minute}"]
    if key is not None:
        counters.append(f"rl:w:key:{key.id}:{minute}")
    for counter in counters:
        pipe.incrby(counter, weight)
        pipe.expire(counter, WEIGHT_WINDOW_S + 1)
    order_counter = None
    if orders and key is not None:
        order_counter = f"rl:o:key:{key.id}:{int(now // ORDER_WINDOW_S)}"
        pipe.incrby(order_counter, orders)
        pipe.expire(order_counter, ORDER_WINDOW_S + 1)
    results = await pipe.execute()
    ip_used = int(results[0])
    key_used = int(results[2]) if key is not None else None
    orders_used = int(results[-2]) if order_counter is not None else None

    usage = Usage()
    usage.headers["X-MBX-USED-WEIGHT-1M"] = str(ip_used if key_used is None else key_used)
    if orders_used is not None:
        usage.headers["X-MBX-ORDER-COUNT-10S"] = str(orders_used)

    weight_retry = WEIGHT_WINDOW_S - int(now % WEIGHT_WINDOW_S)
    if key is None:
        ip_limit = settings.API_RATE_LIMIT_IP_WEIGHT_1M
        if ip_used > ip_limit:
            usage.error, usage.retry_after_s = errors.too_much_weight(ip_limit), weight_retry
        return usage
    limits = settings.API_RATE_LIMITS.get(key.tier) or settings.API_RATE_LIMITS["default"]
    weight_limit = limits.get("weight_1m")
    if weight_limit is not None:
        ip_limit = max(settings.API_RATE_LIMIT_IP_WEIGHT_1M, weight_limit)
        if key_used is not None and key_used > weight_limit:
            usage.error, usage.retry_after_s = errors.too_much_weight(weight_limit), weight_retry
        elif ip_used > ip_limit:
            usage.error, usage.retry_after_s = errors.too_much_weight(ip_limit), weight_retry
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
