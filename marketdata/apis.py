"""Public market-data endpoints of the Binance Spot v3 API (contract sections 3 #1-11 and 4.1-4.6).

Security NONE: an X-MBX-APIKEY header is ignored. Reads go through marketdata.selectors on the
API thread pool; the order book comes from the depth store the matcher publishes to Redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings

from exchange_site.binance import errors, openapi, render
from exchange_site.binance.db import db_call
from exchange_site.binance.endpoint import Call, endpoint
from exchange_site.binance.openapi import (
    DECIMAL,
    INT,
    TIME_MS,
    any_of,
    array,
    component,
    obj,
    one_of,
)
from exchange_site.binance.params import (
    END_TIME,
    START_TIME,
    SYMBOL,
    SYMBOL_OPTIONAL,
    SYMBOLS,
    Kind,
    Param,
    limit,
    spec,
)
from exchange_site.binance.times import now_ms
from exchange_site.money import fmt
from orders.models import Market, Order

from . import selectors
from .selectors import KLINE_INTERVALS, Stats

ORDER_TYPES = [choice.value for choice in Order.Type]
STP_MODES = [choice.value for choice in Order.STP]
DAY_MS = 86_400_000
AVG_PRICE_MINS = 5


# Helpers ------------------------------------------------------------------------------------


def _amounts(market: Market) -> render.Amounts:
    return render.Amounts(market.base.precision, market.quote.precision)


async def market_or_error(symbol: str) -> Market:
    market = await db_call(selectors.market_get, symbol=symbol)
    if market is None:
        raise errors.invalid_symbol()
    return market


async def markets_selected(params: Mapping[str, Any]) -> tuple[list[Market], bool]:
    """The markets named by `symbol` or `symbols` (-1121 if any is unknown), or all of them.
    The flag says a single `symbol` was asked for (answer an object, not an array)."""
    symbol, symbols = params.get("symbol"), params.get("symbols")
    if symbol is not None and symbols is not None:
        raise errors.bad_combination()
    if symbol is not None:
        return [await market_or_error(symbol)], True
    markets = await db_call(selectors.market_list, symbols=symbols)
    if symbols is not None:
        found = {m.symbol: m for m in markets}
        if len(found) != len(symbols):
            raise errors.invalid_symbol()
        markets = [found[s] for s in symbols]  # the caller's order
    return markets, False


def _symbols_weight(single: int, few: int, many: int) -> Any:
    """Binance's weights for symbol / symbols (by count) / all markets."""

    def weight(raw: Mapping[str, str]) -> int:
        if raw.get("symbol"):
            return single
        text = raw.get("symbols", "")
        if text:
            count = text.count(",") + 1
            return few if count <= 20 else many
        return many

    return weight


def _depth_weight(raw: Mapping[str, str]) -> int:
    n = int(raw.get("limit") or 100)
    if n <= 100:
        return 5
    if n <= 500:
        return 25
    if n <= 1000:
        return 50
    return 250


# ping, time ---------------------------------------------------------------------------------


@endpoint("GET", response=openapi.EMPTY, summary="Test connectivity", tag="General")
async def ping(call: Call) -> dict[str, Any]:
    return {}


@endpoint(
    "GET",
    response=obj({"serverTime": TIME_MS}),
    summary="Server time",
    tag="General",
)
async def server_time(call: Call) -> dict[str, Any]:
    return {"serverTime": now_ms()}


# exchangeInfo -------------------------------------------------------------------------------

_FILTER = {
    "type": "object",
    "properties": {
        "filterType": openapi.enum("PRICE_FILTER", "LOT_SIZE", "NOTIONAL", "PERCENT_PRICE_BY_SIDE"),
    },
    "required": ["filterType"],
    "additionalProperties": True,
}
SYMBOL_INFO = component(
    "SymbolInfo",
    obj(
        {
            "symbol": openapi.STRING,
            "status": openapi.enum(*Market.Status.values),
            "baseAsset": openapi.STRING,
            "baseAssetPrecision": INT,
            "quoteAsset": openapi.STRING,
            "quotePrecision": INT,
            "quoteAssetPrecision": INT,
            "baseCommissionPrecision": INT,
            "quoteCommissionPrecision": INT,
            "orderTypes": array(openapi.enum(*ORDER_TYPES)),
            "icebergAllowed": openapi.BOOL,
            "ocoAllowed": openapi.BOOL,
            "otoAllowed": openapi.BOOL,
            "quoteOrderQtyMarketAllowed": openapi.BOOL,
            "allowTrailingStop": openapi.BOOL,
            "cancelReplaceAllowed": openapi.BOOL,
            "amendAllowed": openapi.BOOL,
            "pegInstructionsAllowed": openapi.BOOL,
            "isSpotTradingAllowed": openapi.BOOL,
            "isMarginTradingAllowed": openapi.BOOL,
            "filters": array(_FILTER),
            "permissions": array(openapi.STRING),
            "permissionSets": array(array(openapi.STRING)),
            "defaultSelfTradePreventionMode": openapi.enum(*STP_MODES),
            "allowedSelfTradePreventionModes": array(openapi.enum(*STP_MODES)),
        }
    ),
)
RATE_LIMIT = obj(
    {
        "rateLimitType": openapi.enum("REQUEST_WEIGHT", "ORDERS"),
        "interval": openapi.enum("SECOND", "MINUTE"),
        "intervalNum": INT,
        "limit": INT,
    }
)
EXCHANGE_INFO = component(
    "ExchangeInfo",
    obj(
        {
            "timezone": openapi.STRING,
            "serverTime": TIME_MS,
            "rateLimits": array(RATE_LIMIT),
            "exchangeFilters": array(_FILTER),
            "symbols": array(SYMBOL_INFO),
        }
    ),
)


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


@endpoint(
    "GET",
    weight=20,
    params=spec(SYMBOL_OPTIONAL, SYMBOLS),
    response=EXCHANGE_INFO,
    summary="Exchange information: symbols, filters, rate limits",
    tag="General",
)
async def exchange_info(call: Call) -> dict[str, Any]:
    markets, _ = await markets_selected(call.params)
    return {
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": rate_limits(),
        "exchangeFilters": [],
        "symbols": [symbol_info(m) for m in markets],
    }


# depth --------------------------------------------------------------------------------------

LEVEL = {"type": "array", "items": DECIMAL, "minItems": 2, "maxItems": 2}
DEPTH = component("Depth", obj({"lastUpdateId": INT, "bids": array(LEVEL), "asks": array(LEVEL)}))


@endpoint(
    "GET",
    weight=_depth_weight,
    weight_doc="5 (limit <= 100), 25 (<= 500), 50 (<= 1000), 250 (<= 5000)",
    params=spec(SYMBOL, limit(100, 5000)),
    response=DEPTH,
    summary="Order book",
    description="lastUpdateId is the book update id shared with the <symbol>@depth stream.",
)
async def depth(call: Call) -> dict[str, Any]:
    market = await market_or_error(call.params["symbol"])
    snap = await db_call(selectors.depth_get, symbol=market.symbol, limit=call.params["limit"])
    tick, step = market.tick_size, market.step_size
    return {
        "lastUpdateId": snap.update_id,
        "bids": [
            [_amounts(market).price(p * tick), _amounts(market).qty(q * step)] for p, q in snap.bids
        ],
        "asks": [
            [_amounts(market).price(p * tick), _amounts(market).qty(q * step)] for p, q in snap.asks
        ],
    }


# trades, aggTrades --------------------------------------------------------------------------

TRADE = component(
    "Trade",
    obj(
        {
            "id": INT,
            "price": DECIMAL,
            "qty": DECIMAL,
            "quoteQty": DECIMAL,
            "time": TIME_MS,
            "isBuyerMaker": openapi.BOOL,
            "isBestMatch": openapi.BOOL,
        }
    ),
)
AGG_TRADE = component(
    "AggTrade",
    obj(
        {
            "a": INT,
            "p": DECIMAL,
            "q": DECIMAL,
            "f": INT,
            "l": INT,
            "T": TIME_MS,
            "m": openapi.BOOL,
            "M": openapi.BOOL,
        }
    ),
)


@endpoint(
    "GET",
    weight=25,
    params=spec(SYMBOL, limit(500, 1000)),
    response=array(TRADE),
    summary="Recent trades, oldest first",
)
async def trades(call: Call) -> list[dict[str, Any]]:
    market = await market_or_error(call.params["symbol"])
    rows = await db_call(
        selectors.trade_list_recent, market_id=market.pk, limit=call.params["limit"]
    )
    return [
        {
            "id": t.id,
            "price": _amounts(market).price(t.price),
            "qty": _amounts(market).qty(t.qty),
            "quoteQty": _amounts(market).quote(t.quote_qty),
            "time": t.time_ms,
            "isBuyerMaker": t.is_buyer_maker,
            "isBestMatch": True,
        }
        for t in rows
    ]


@endpoint(
    "GET",
    weight=4,
    params=spec(
        SYMBOL,
        Param("fromId", Kind.INT, description="Trade id to start from (inclusive)."),
        START_TIME,
        END_TIME,
        limit(500, 1000),
    ),
    response=array(AGG_TRADE),
    summary="Trades in aggregate-trade form (one row per trade: f == l == a)",
    description=(
        "With neither fromId nor startTime: the most recent `limit` trades. Any range is"
        " accepted (clients send startTime and endTime = startTime + 1 h)."
    ),
)
async def agg_trades(call: Call) -> list[dict[str, Any]]:
    market = await market_or_error(call.params["symbol"])
    rows = await db_call(
        selectors.trade_list_range,
        market_id=market.pk,
        from_id=call.params["fromId"],
        start_ms=call.params["startTime"],
        end_ms=call.params["endTime"],
        limit=call.params["limit"],
    )
    return [
        {
            "a": t.id,
            "p": _amounts(market).price(t.price),
            "q": _amounts(market).qty(t.qty),
            "f": t.id,
            "l": t.id,
            "T": t.time_ms,
            "m": t.is_buyer_maker,
            "M": True,
        }
        for t in rows
    ]


# klines -------------------------------------------------------------------------------------

KLINE = {
    "type": "array",
    "description": (
        "[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,"
        ' takerBuyBaseVolume, takerBuyQuoteVolume, "0"]'
    ),
    "items": {"oneOf": [INT, DECIMAL]},
    "minItems": 12,
    "maxItems": 12,
}


@endpoint(
    "GET",
    weight=2,
    params=spec(
        SYMBOL,
        Param(
            "interval",
            Kind.ENUM,
            required=True,
            choices=KLINE_INTERVALS,
            enum_error=(-1120, errors.INVALID_INTERVAL),
        ),
        START_TIME,
        END_TIME,
        limit(500, 1000),
    ),
    response=array(KLINE),
    summary="Candlesticks aggregated from the trades",
    description=(
        "Candles without trades carry the previous close and zero volume; candles before the"
        " market's first trade are omitted. With startTime: the oldest from it; otherwise the"
        " most recent up to endTime or now."
    ),
)
async def klines(call: Call) -> list[list[Any]]:
    market = await market_or_error(call.params["symbol"])
    rows = await db_call(
        selectors.kline_list,
        market_id=market.pk,
        interval=call.params["interval"],
        start_ms=call.params["startTime"],
        end_ms=call.params["endTime"],
        limit=call.params["limit"],
        now_ms=now_ms(),
    )
    return [
        [
            k.open_time_ms,
            _amounts(market).price(k.open),
            _amounts(market).price(k.high),
            _amounts(market).price(k.low),
            _amounts(market).price(k.close),
            _amounts(market).qty(k.volume),
            k.close_time_ms,
            _amounts(market).quote(k.quote_volume),
            k.count,
            _amounts(market).qty(k.taker_buy_volume),
            _amounts(market).quote(k.taker_buy_quote_volume),
            "0",
        ]
        for k in rows
    ]


# tickers ------------------------------------------------------------------------------------

TICKER_FULL = component(
    "Ticker24h",
    obj(
        {
            "symbol": openapi.STRING,
            "priceChange": openapi.SIGNED_DECIMAL,
            "priceChangePercent": openapi.SIGNED_DECIMAL,
            "weightedAvgPrice": DECIMAL,
            "prevClosePrice": DECIMAL,
            "lastPrice": DECIMAL,
            "lastQty": DECIMAL,
            "bidPrice": DECIMAL,
            "bidQty": DECIMAL,
            "askPrice": DECIMAL,
            "askQty": DECIMAL,
            "openPrice": DECIMAL,
            "highPrice": DECIMAL,
            "lowPrice": DECIMAL,
            "volume": DECIMAL,
            "quoteVolume": DECIMAL,
            "openTime": TIME_MS,
            "closeTime": TIME_MS,
            "firstId": INT,
            "lastId": INT,
            "count": INT,
        }
    ),
)
TICKER_MINI = component(
    "Ticker24hMini",
    obj(
        {
            "symbol": openapi.STRING,
            "openPrice": DECIMAL,
            "highPrice": DECIMAL,
            "lowPrice": DECIMAL,
            "lastPrice": DECIMAL,
            "volume": DECIMAL,
            "quoteVolume": DECIMAL,
            "openTime": TIME_MS,
            "closeTime": TIME_MS,
            "firstId": INT,
            "lastId": INT,
            "count": INT,
        }
    ),
)
PRICE_TICKER = component("PriceTicker", obj({"symbol": openapi.STRING, "price": DECIMAL}))
BOOK_TICKER = component(
    "BookTicker",
    obj(
        {
            "symbol": openapi.STRING,
            "bidPrice": DECIMAL,
            "bidQty": DECIMAL,
            "askPrice": DECIMAL,
            "askQty": DECIMAL,
        }
    ),
)


def _book_fields(market: Market, top: selectors.BookTop) -> dict[str, str]:
    tick, step = market.tick_size, market.step_size
    return {
        "bidPrice": _amounts(market).price(top.bid_ticks * tick),
        "bidQty": _amounts(market).qty(top.bid_lots * step),
        "askPrice": _amounts(market).price(top.ask_ticks * tick),
        "askQty": _amounts(market).qty(top.ask_lots * step),
    }


def ticker_24h_render(
    market: Market,
    stats: Stats,
    top: selectors.BookTop,
    *,
    open_ms: int,
    close_ms: int,
    mini: bool,
) -> dict[str, Any]:
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
            "openPrice": _amounts(market).price(stats.open),
            "highPrice": _amounts(market).price(stats.high),
            "lowPrice": _amounts(market).price(stats.low),
            "lastPrice": _amounts(market).price(stats.last),
            "volume": _amounts(market).qty(stats.volume),
            "quoteVolume": _amounts(market).quote(stats.quote_volume),
            **counts,
        }
    return {
        "symbol": market.symbol,
        "priceChange": _amounts(market).price(change),
        "priceChangePercent": fmt(percent, 3),
        "weightedAvgPrice": _amounts(market).price(vwap),
        "prevClosePrice": _amounts(market).price(stats.prev_close),
        "lastPrice": _amounts(market).price(stats.last),
        "lastQty": _amounts(market).qty(stats.last_qty),
        **_book_fields(market, top),
        "openPrice": _amounts(market).price(stats.open),
        "highPrice": _amounts(market).price(stats.high),
        "lowPrice": _amounts(market).price(stats.low),
        "volume": _amounts(market).qty(stats.volume),
        "quoteVolume": _amounts(market).quote(stats.quote_volume),
        **counts,
    }


@endpoint(
    "GET",
    weight=_symbols_weight(2, 40, 80),
    weight_doc="2 with symbol; 40 for up to 20 symbols; 80 for more or for all",
    params=spec(
        SYMBOL_OPTIONAL,
        SYMBOLS,
        Param("type", Kind.ENUM, choices=("FULL", "MINI"), default="FULL"),
    ),
    # anyOf: a FULL ticker also satisfies the MINI shape.
    response=any_of(TICKER_FULL, array(TICKER_FULL), TICKER_MINI, array(TICKER_MINI)),
    summary="24 h rolling statistics (object with symbol, else array)",
)
async def ticker_24hr(call: Call) -> Any:
    markets, single = await markets_selected(call.params)
    close_ms = now_ms()
    open_ms = close_ms - DAY_MS
    stats = await db_call(
        selectors.stats_list,
        market_ids=[m.pk for m in markets],
        start_ms=open_ms,
        end_ms=close_ms,
    )
    mini = call.params["type"] == "MINI"
    tops = (
        {} if mini else await db_call(selectors.book_top_list, symbols=[m.symbol for m in markets])
    )
    empty_top = selectors.BookTop(0, 0, 0, 0)
    result = [
        ticker_24h_render(
            m,
            stats.get(m.pk, Stats()),
            tops.get(m.symbol, empty_top),
            open_ms=open_ms,
            close_ms=close_ms,
            mini=mini,
        )
        for m in markets
    ]
    return result[0] if single else result


@endpoint(
    "GET",
    weight=_symbols_weight(2, 4, 4),
    weight_doc="2 with symbol, else 4",
    params=spec(SYMBOL_OPTIONAL, SYMBOLS),
    response=one_of(PRICE_TICKER, array(PRICE_TICKER)),
    summary='Last trade price ("0.00000000" before the first trade)',
)
async def ticker_price(call: Call) -> Any:
    markets, single = await markets_selected(call.params)
    prices = await db_call(selectors.last_price_list, market_ids=[m.pk for m in markets])
    result = [
        {"symbol": m.symbol, "price": _amounts(m).price(prices.get(m.pk, Decimal(0)))}
        for m in markets
    ]
    return result[0] if single else result


@endpoint(
    "GET",
    weight=_symbols_weight(2, 4, 4),
    weight_doc="2 with symbol, else 4",
    params=spec(SYMBOL_OPTIONAL, SYMBOLS),
    response=one_of(BOOK_TICKER, array(BOOK_TICKER)),
    summary="Best bid and ask (zeros for an empty side)",
)
async def ticker_book(call: Call) -> Any:
    markets, single = await markets_selected(call.params)
    tops = await db_call(selectors.book_top_list, symbols=[m.symbol for m in markets])
    result = [{"symbol": m.symbol, **_book_fields(m, tops[m.symbol])} for m in markets]
    return result[0] if single else result


@endpoint(
    "GET",
    weight=2,
    params=spec(SYMBOL),
    response=obj({"mins": INT, "price": DECIMAL, "closeTime": TIME_MS}),
    summary="Average price: volume-weighted over the last 5 minutes, else the last price",
)
async def avg_price(call: Call) -> dict[str, Any]:
    market = await market_or_error(call.params["symbol"])
    now = now_ms()
    avg = await db_call(
        selectors.avg_price_get, market_id=market.pk, start_ms=now - AVG_PRICE_MINS * 60_000
    )
    return {
        "mins": AVG_PRICE_MINS,
        "price": _amounts(market).price(avg.price),
        "closeTime": avg.close_time_ms if avg.close_time_ms is not None else now,
    }
