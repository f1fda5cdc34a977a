"""Order-side reads. Orders of other users are never returned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from django.db.models import Model, QuerySet

from wallet.models import Asset

from .errors import INVALID_SYMBOL, ORDER_DOES_NOT_EXIST, OrderRejected, rejected
from .models import OPEN_STATUSES, Market, Order, Trade

M = TypeVar("M", bound=Model)

_MARKET_DECIMALS = (
    "tick_size", "step_size", "min_price", "max_price", "min_qty", "max_qty", "min_notional",
    "max_notional", "maker_fee", "taker_fee", "price_band_pct",
)  # fmt: skip


def market_normalize(market: Market) -> Market:
    """Strip the 18-place scale NUMERIC columns come back with: tick * step would otherwise
    carry 36 places, beyond what the 28-digit decimal context can quantize to."""
    for name in _MARKET_DECIMALS:
        setattr(market, name, getattr(market, name).normalize())
    return market


def market_get(*, symbol: str) -> Market:
    """The market `symbol` with its assets (sizes normalised); -1121 when unknown."""
    market = Market.objects.select_related("base", "quote").filter(symbol=symbol).first()
    if market is None:
        raise rejected(INVALID_SYMBOL)
    return market_normalize(market)


# This process's copies of the markets by symbol, for the order path: read once, then trusted
# only as far as the acceptance statement confirms (it refuses a copy whose config_version is
# not the row's; orders.services then reads the market again). Not for anything else.
_market_cache: dict[str, Market] = {}


def market_cached(*, symbol: str) -> Market:
    """This process's copy of the market `symbol` (read when missing); -1121 when unknown."""
    market = _market_cache.get(symbol)
    if market is None:
        market = market_get_fresh(symbol=symbol)
    return market


def market_get_fresh(*, symbol: str) -> Market:
    """The market read now, kept as this process's copy (market_cached)."""
    market = _market_cache[symbol] = market_get(symbol=symbol)
    return market


def order_get(
    *, user_id: int, market: Market, order_id: int | None, client_order_id: str | None
) -> Order:
    """One of the user's orders by id and/or client id (both: must match); -2013 when none."""
    qs = Order.objects.filter(user_id=user_id, market=market)
    if order_id is not None:
        qs = qs.filter(pk=order_id)
    if client_order_id is not None:
        # A client id may be reused once its order is done: the newest one wins.
        qs = qs.filter(client_order_id=client_order_id).order_by("-id")
    if order_id is None and client_order_id is None:
        raise rejected(ORDER_DOES_NOT_EXIST)
    order = qs.first()
    if order is None:
        raise rejected(ORDER_DOES_NOT_EXIST)
    return order


def order_list_open(*, user_id: int, market: Market | None = None) -> QuerySet[Order]:
    qs = Order.objects.filter(user_id=user_id, status__in=OPEN_STATUSES).select_related(
        "market", "market__base", "market__quote"
    )
    if market is not None:
        qs = qs.filter(market=market)
    return qs.order_by("id")


def order_list_all(
    *,
    user_id: int,
    market: Market,
    from_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[Order]:
    """Ascending by id; with no bound, the most recent `limit` orders."""
    qs = Order.objects.filter(user_id=user_id, market=market).select_related(
        "market", "market__base", "market__quote"
    )
    return _id_window(qs, from_id=from_id, start=start, end=end, limit=limit)


def _id_window(
    qs: QuerySet[M],
    *,
    from_id: int | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[M]:
    """At most `limit` rows created within [start, end], ascending by id: from `from_id`, else
    from `start`, else the most recent ones."""
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    if from_id is not None:
        return list(qs.filter(pk__gte=from_id).order_by("id")[:limit])
    if start is not None:
        return list(qs.order_by("id")[:limit])
    return list(reversed(qs.order_by("-id")[:limit]))


def fills_for_order(*, order_id: int) -> list[Trade]:
    """The order's trades (as maker or taker), in execution order."""
    from django.db.models import Q

    return list(
        Trade.objects.filter(Q(maker_order_id=order_id) | Q(taker_order_id=order_id))
        .select_related("market", "market__base", "market__quote")
        .order_by("seq")
    )


@dataclass(frozen=True, slots=True)
class TradeSide:
    """A trade as one of its sides sees it: a self-trade has two, each with its own order and
    commission (charged in the asset received: the buyer's in base, the seller's in quote)."""

    trade: Trade
    order_id: int
    is_buyer: bool
    is_maker: bool
    fee: Decimal
    fee_asset: Asset


def trade_side_list_for_user(
    *,
    user_id: int,
    market: Market,
    order_id: int | None = None,
    from_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[TradeSide]:
    """The user's trades in `market` as its sides see them (a self-trade twice), ascending by
    trade id, at most `limit`; with `order_id`, only that order's sides."""
    from django.db.models import Q

    qs = Trade.objects.filter(market=market).filter(Q(buyer_id=user_id) | Q(seller_id=user_id))
    if order_id is not None:
        qs = qs.filter(Q(maker_order_id=order_id) | Q(taker_order_id=order_id))
    qs = qs.select_related("maker_order", "taker_order")
    trades = _id_window(qs, from_id=from_id, start=start, end=end, limit=limit)
    sides: list[TradeSide] = []
    for t in trades:
        buyer_order = t.maker_order_id if t.is_buyer_maker else t.taker_order_id
        seller_order = t.taker_order_id if t.is_buyer_maker else t.maker_order_id
        if t.buyer_id == user_id:
            sides.append(
                TradeSide(t, buyer_order, True, t.is_buyer_maker, t.buyer_fee, market.base)
            )
        if t.seller_id == user_id:
            sides.append(
                TradeSide(t, seller_order, False, not t.is_buyer_maker, t.seller_fee, market.quote)
            )
    if order_id is not None:
        sides = [side for side in sides if side.order_id == order_id]
    return sides[:limit]


def order_get_visible(
    *, user_id: int, market: Market, order_id: int | None, client_order_id: str | None
) -> Order:
    """order_get as the client sees it: an order the engine refused (e.g. LIMIT_MAKER would
    take) was never created for it (contract 5.3; the refusal answered its POST): -2013."""
    order = order_get(
        user_id=user_id, market=market, order_id=order_id, client_order_id=client_order_id
    )
    if order.status == Order.Status.REJECTED:
        raise rejected(ORDER_DOES_NOT_EXIST)
    return order


def order_status_public(order: Order) -> str:
    """Internal statuses mapped onto the contract's: an accepted-but-unmatched order is NEW."""
    return "NEW" if order.status == Order.Status.PENDING_NEW else order.status


__all__ = [
    "OrderRejected",
    "TradeSide",
    "fills_for_order",
    "market_cached",
    "market_get",
    "market_get_fresh",
    "market_normalize",
    "order_get",
    "order_get_visible",
    "order_list_all",
    "order_list_open",
    "order_status_public",
    "trade_side_list_for_user",
]
