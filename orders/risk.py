"""Per-market risk checks of the order path that need more than the order itself (the rest are
filters in orders.services._validate). Configured per market in the admin; see
docs/back-office.md, "Risk controls".

Each is one call from the acceptance step, so a rewrite of that step carries them over as is.
"""

from __future__ import annotations

import time
from decimal import Decimal

from django.conf import settings

from exchange_site.redis import get_redis
from marketdata.depthstore import reference_read
from matching.models import MarketEngineState

from . import units
from .errors import OrderRejected, filter_failure
from .models import OPEN_STATUSES, Market, Order


def reference_price(market: Market) -> Decimal | None:
    """The price band's reference: the last trade price, from the depth store in Redis; when
    Redis has lost the market's published book (restart, flush), from what the matcher committed
    to PostgreSQL with its last batch. None when the market has never traded."""
    ticks, book_known = reference_read(get_redis(), symbol=market.symbol)
    if not ticks and not book_known:
        stored = MarketEngineState.objects.filter(market_id=market.pk).values_list(
            "last_trade_price_ticks", flat=True
        )
        ticks = stored.first() or 0
    return units.ticks_to_price(ticks, market.tick_size) if ticks else None


def open_orders_check(market: Market, user_id: int) -> None:
    """MAX_NUM_ORDERS: the user's open orders in the market, against the market's limit (the
    MAX_OPEN_ORDERS_PER_MARKET setting when the market sets none). Caller's transaction."""
    limit = market.max_open_orders or settings.MAX_OPEN_ORDERS_PER_MARKET
    open_count = Order.objects.filter(
        user_id=user_id, market=market, status__in=OPEN_STATUSES
    ).count()
    if open_count >= limit:
        raise filter_failure("MAX_NUM_ORDERS")


def order_rate_check(market: Market, user_id: int) -> None:
    """New orders per user in the market per window (fixed windows, a Redis counter); -1015 as
    Binance answers an order-rate breach. No Redis call when the market sets no limit."""
    limit = market.user_order_rate_limit
    if not limit:
        return
    window = market.user_order_rate_window_s
    key = f"risk:rate:{market.pk}:{user_id}:{int(time.time()) // window}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, window * 2)
    count = int(pipe.execute()[0])
    if count > limit:
        raise OrderRejected(
            f"Too many new orders; current limit is {limit} orders per {window} SECOND.",
            code=-1015,
            http_status=429,
        )
