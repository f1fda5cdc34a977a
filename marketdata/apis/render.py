"""Binance shapes of the market-data reads: pure functions of a market (assets loaded) and the
rows marketdata.selectors returned; no query, so they run on the event loop."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from exchange_site.binance.render import Amounts
from exchange_site.money import fmt
from marketdata.depthstore import DepthSnapshot
from marketdata.selectors import AvgPrice, BookTop, Kline, PublicTrade, Stats
from orders.models import Market

from .schema import ORDER_TYPES, STP_MODES

AVG_PRICE_MINS = 5
NO_STATS = Stats()
EMPTY_TOP = BookTop(0, 0, 0, 0)


def amounts(market: Market) -> Amounts:
    return Amounts(market.base.precision, market.quote.precision)


# exchangeInfo -------------------------------------------------------------------------------


def symbol_info(market: Market) -> dict[str, Any]:
    p, q = market.quote.precision, market.base.precision
    filters: list[dict[str, Any]] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": fmt(market.min_price, p),
            "maxPrice": fmt(market.max_price, p),
            "tickSize": fmt(market.tick_size, p),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": fmt(market.min_qty, q),
            "maxQty": fmt(market.max_qty, q),
            "stepSize": fmt(market.step_size, q),
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": fmt(market.min_notional, p),
            "applyMinToMarket": True,
            "maxNotional": fmt(market.max_notional, p),
            "applyMaxToMarket": False,
            "avgPriceMins": AVG_PRICE_MINS,
        },
    ]
    if market.price_band_pct > 0:
        band = market.price_band_pct / 100
        up, down = fmt(1 + band, 8), fmt(max(Decimal(0), 1 - band), 8)
        filters.append(
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": up,
                "bidMultiplierDown": down,
                "askMultiplierUp": up,
                "askMultiplierDown": down,
                "avgPriceMins": AVG_PRICE_MINS,
            }
        )
    return {
        "symbol": market.symbol,
        "status": market.status,
        "baseAsset": market.base.code,
        "baseAssetPrecision": market.base.precision,
        "quoteAsset": market.quote.code,
        "quotePrecision": market.quote.precision,
        "quoteAssetPrecision": market.quote.precision,
        "baseCommissionPrecision": market.base.precision,
        "quoteCommissionPrecision": market.quote.precision,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": filters,
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": STP_MODES,
    }


def rate_limits() -> list[dict[str, Any]]:
    """The limits of a key of the default tier (exchangeInfo is public)."""
    default = settings.API_RATE_LIMITS["default"]
    result = []
    if default.get("weight_1m") is not None:
        result.append(
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": default["weight_1m"],
            }
        )
    if default.get("orders_10s") is not None:
        result.append(
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": default["orders_10s"],
            }
        )
    return result


def exchange_info(markets: list[Market], *, server_time: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": rate_limits(),
        "exchangeFilters": [],
        "symbols": [symbol_info(m) for m in markets],
    }


# depth, trades, aggTrades, klines, avgPrice -------------------------------------------------


def depth(market: Market, snap: DepthSnapshot) -> dict[str, Any]:
    a = amounts(market)
    tick, step = market.tick_size, market.step_size
    return {
        "lastUpdateId": snap.update_id,
        "bids": [[a.price(p * tick), a.qty(q * step)] for p, q in snap.bids],
        "asks": [[a.price(p * tick), a.qty(q * step)] for p, q in snap.asks],
    }


def trades(market: Market, rows: list[PublicTrade]) -> list[dict[str, Any]]:
    a = amounts(market)
    return [
        {
            "id": t.id,
            "price": a.price(t.price),
            "qty": a.qty(t.qty),
            "quoteQty": a.quote(t.quote_qty),
            "time": t.time_ms,
            "isBuyerMaker": t.is_buyer_maker,
            "isBestMatch": True,
        }
        for t in rows
    ]


def agg_trades(market: Market, rows: list[PublicTrade]) -> list[dict[str, Any]]:
    a = amounts(market)
    return [
        {
            "a": t.id,
            "p": a.price(t.price),
            "q": a.qty(t.qty),
            "f": t.id,
            "l": t.id,
            "T": t.time_ms,
            "m": t.is_buyer_maker,
            "M": True,
        }
        for t in rows
    ]


def klines(market: Market, rows: list[Kline]) -> list[list[Any]]:
    a = amounts(market)
    return [
        [
            k.open_time_ms,
            a.price(k.open),
            a.price(k.high),
            a.price(k.low),
            a.price(k.close),
            a.qty(k.volume),
            k.close_time_ms,
            a.quote(k.quote_volume),
            k.count,
            a.qty(k.taker_buy_volume),
            a.quote(k.taker_buy_quote_volume),
            "0",
        ]
        for k in rows
    ]


def avg_price(market: Market, avg: AvgPrice, *, now: int) -> dict[str, Any]:
    return {
        "mins": AVG_PRICE_MINS,
        "price": amounts(market).price(avg.price),
        "closeTime": avg.close_time_ms if avg.close_time_ms is not None else now,
    }


# tickers (one row per market) ---------------------------------------------------------------


def _book_fields(market: Market, top: BookTop) -> dict[str, str]:
    a = amounts(market)
    tick, step = market.tick_size, market.step_size
    return {
        "bidPrice": a.price(top.bid_ticks * tick),
        "bidQty": a.qty(top.bid_lots * step),
        "askPrice": a.price(top.ask_ticks * tick),
        "askQty": a.qty(top.ask_lots * step),
    }


def ticker_24h(
    market: Market,
    data: tuple[dict[int, Stats], dict[str, BookTop]],
    *,
    open_ms: int,
    close_ms: int,
    mini: bool,
) -> dict[str, Any]:
    """`data`: the statistics by market id and the book tops by symbol (empty when mini)."""
    stats = data[0].get(market.pk, NO_STATS)
    top = data[1].get(market.symbol, EMPTY_TOP)
    a = amounts(market)
    change = stats.last - stats.open
    percent = change * 100 / stats.open if stats.open else Decimal(0)
    vwap = stats.quote_volume / stats.volume if stats.volume else Decimal(0)
    counts = {
        "openTime": open_ms,
        "closeTime": close_ms,
        "firstId": stats.first_id,
        "lastId": stats.last_id,
        "count": stats.count,
    }
    if mini:
        return {
            "symbol": market.symbol,
            "openPrice": a.price(stats.open),
            "highPrice": a.price(stats.high),
            "lowPrice": a.price(stats.low),
            "lastPrice": a.price(stats.last),
            "volume": a.qty(stats.volume),
            "quoteVolume": a.quote(stats.quote_volume),
            **counts,
        }
    return {
        "symbol": market.symbol,
        "priceChange": a.price(change),
        "priceChangePercent": fmt(percent, 3),
        "weightedAvgPrice": a.price(vwap),
        "prevClosePrice": a.price(stats.prev_close),
        "lastPrice": a.price(stats.last),
        "lastQty": a.qty(stats.last_qty),
        **_book_fields(market, top),
        "openPrice": a.price(stats.open),
        "highPrice": a.price(stats.high),
        "lowPrice": a.price(stats.low),
        "volume": a.qty(stats.volume),
        "quoteVolume": a.quote(stats.quote_volume),
        **counts,
    }


def price_ticker(market: Market, prices: dict[int, Decimal]) -> dict[str, Any]:
    """`prices`: the last trade price by market id ("0" before the first trade)."""
    return {
        "symbol": market.symbol,
        "price": amounts(market).price(prices.get(market.pk, Decimal(0))),
    }


def book_ticker(market: Market, tops: dict[str, BookTop]) -> dict[str, Any]:
    return {"symbol": market.symbol, **_book_fields(market, tops[market.symbol])}
