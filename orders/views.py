"""The trading page of a market. Server-rendered shell with the market's configuration; the
book, trades, chart, order entry and the user's orders are live in the page
(accounts/static/ui/trade.js) over the market streams, the UI socket and /ui/api/."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from orders.errors import OrderRejected

from . import selectors
from .models import Market


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def market_config(market: Market) -> dict[str, object]:
    """What the page needs to validate and format: sizes as strings, display decimals."""
    return {
        "symbol": market.symbol,
        "base": market.base.code,
        "quote": market.quote.code,
        "status": market.status,
        "tickSize": str(market.tick_size),
        "stepSize": str(market.step_size),
        "minQty": str(market.min_qty),
        "minNotional": str(market.min_notional),
        "priceDecimals": _places(market.tick_size),
        "qtyDecimals": _places(market.step_size),
        "quoteDecimals": market.quote.precision,
        "makerFee": str(market.maker_fee),
        "takerFee": str(market.taker_fee),
    }


@login_required
def trade(request: HttpRequest, symbol: str) -> HttpResponse:
    try:
        market = selectors.market_get(symbol=symbol.upper())
    except OrderRejected:
        raise Http404("no such market") from None
    markets = [m.symbol for m in Market.objects.order_by("symbol")]
    return render(
        request,
        "orders/trade.html",
        {"market": market, "config": market_config(market), "markets": markets},
    )
