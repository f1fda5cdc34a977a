"""Declarations of the market-data endpoints: parameters, request weights and the OpenAPI
response schemas (components), shared by validation, rate limiting and /api/schema/."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from exchange_site.binance import errors, openapi
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
    SYMBOL_OR_SYMBOLS,
    SYMBOLS,
    Kind,
    Param,
    limit,
    spec,
)
from marketdata.selectors import KLINE_INTERVALS
from orders.models import Market, Order

ORDER_TYPES = [choice.value for choice in Order.Type]
STP_MODES = [choice.value for choice in Order.STP]


# Parameters and weights ---------------------------------------------------------------------

MARKETS_PARAMS = spec(SYMBOL_OPTIONAL, SYMBOLS, rules=(SYMBOL_OR_SYMBOLS,))
DEPTH_PARAMS = spec(SYMBOL, limit(100, 5000))
TRADES_PARAMS = spec(SYMBOL, limit(500, 1000))
AGG_TRADES_PARAMS = spec(
    SYMBOL,
    Param("fromId", Kind.INT, description="Trade id to start from (inclusive)."),
    START_TIME,
    END_TIME,
    limit(500, 1000),
)
KLINES_PARAMS = spec(
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
)
TICKER_24H_PARAMS = spec(
    SYMBOL_OPTIONAL,
    SYMBOLS,
    Param("type", Kind.ENUM, choices=("FULL", "MINI"), default="FULL"),
    rules=(SYMBOL_OR_SYMBOLS,),
)
AVG_PRICE_PARAMS = spec(SYMBOL)


def symbols_weight(single: int, few: int, many: int) -> Callable[[Mapping[str, str]], int]:
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


def klines_weight(raw: Mapping[str, str]) -> int:
    """By the number of candles asked for: each may aggregate many trades, so a long history is
    not one light request (Binance charges 2 whatever the limit)."""
    n = int(raw.get("limit") or 500)
    if n <= 100:
        return 2
    if n <= 500:
        return 5
    return 10


def depth_weight(raw: Mapping[str, str]) -> int:
    n = int(raw.get("limit") or 100)
    if n <= 100:
        return 5
    if n <= 500:
        return 25
    if n <= 1000:
        return 50
    return 250


# Response schemas ---------------------------------------------------------------------------

SERVER_TIME = obj({"serverTime": TIME_MS})

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

LEVEL = {"type": "array", "items": DECIMAL, "minItems": 2, "maxItems": 2}
DEPTH = component("Depth", obj({"lastUpdateId": INT, "bids": array(LEVEL), "asks": array(LEVEL)}))

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

# The window's totals, ending both ticker forms.
TICKER_TOTALS: dict[str, openapi.Schema] = {
    "volume": DECIMAL,
    "quoteVolume": DECIMAL,
    "openTime": TIME_MS,
    "closeTime": TIME_MS,
    "firstId": INT,
    "lastId": INT,
    "count": INT,
}
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
            **TICKER_TOTALS,
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
            **TICKER_TOTALS,
        }
    ),
)
# anyOf: a FULL ticker also satisfies the MINI shape.
TICKER_24H = any_of(TICKER_FULL, array(TICKER_FULL), TICKER_MINI, array(TICKER_MINI))
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
PRICE_TICKERS = one_of(PRICE_TICKER, array(PRICE_TICKER))
BOOK_TICKERS = one_of(BOOK_TICKER, array(BOOK_TICKER))
AVG_PRICE = obj({"mins": INT, "price": DECIMAL, "closeTime": TIME_MS})
