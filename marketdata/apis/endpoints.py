"""Public market-data endpoints of the Binance Spot v3 API (contract sections 3 #1-11 and 4.1-4.6).

Security NONE: an X-MBX-APIKEY header is ignored. Each endpoint is one shape: resolve the
market(s) named by the parameters and read what it answers with marketdata.selectors, in one
call on the API thread pool (the order book comes from the depth store the matcher publishes to
Redis), then render (`render`, on the event loop: the rows are plain values).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from exchange_site.binance import errors, openapi
from exchange_site.binance.db import db_call
from exchange_site.binance.endpoint import Call, endpoint
from exchange_site.binance.times import now_ms
from marketdata import selectors
from orders.models import Market

from . import render, schema

D = TypeVar("D")
R = TypeVar("R")
DAY_MS = 86_400_000


# Markets named by the parameters (sync: thread pool) ------------------------------------------


def market_or_error(symbol: str) -> Market:
    market = selectors.market_get(symbol=symbol)
    if market is None:
        raise errors.invalid_symbol()
    return market


def markets_selected(params: Mapping[str, Any]) -> tuple[list[Market], bool]:
    """The markets named by `symbol` or `symbols` (-1121 if any is unknown), or all of them.
    The flag says a single `symbol` was asked for (answer an object, not an array)."""
    symbol, symbols = params.get("symbol"), params.get("symbols")
    if symbol is not None and symbols is not None:
        raise errors.bad_combination()
    if symbol is not None:
        return [market_or_error(symbol)], True
    markets = selectors.market_list(symbols=symbols)
    if symbols is not None:
        found = {m.symbol: m for m in markets}
        if len(found) != len(symbols):
            raise errors.invalid_symbol()
        markets = [found[s] for s in symbols]  # the caller's order
    return markets, False


def _read_one(symbol: str, read: Callable[[Market], D]) -> tuple[Market, D]:
    market = market_or_error(symbol)
    return market, read(market)


def _read_many(
    params: Mapping[str, Any], read: Callable[[list[Market]], D]
) -> tuple[list[Market], bool, D]:
    markets, single = markets_selected(params)
    return markets, single, read(markets)


# The two shapes -------------------------------------------------------------------------------


async def _one_market(
    call: Call, read: Callable[[Market], D], render_: Callable[[Market, D], R]
) -> R:
    """`symbol` -> its market and `read(market)` (one thread-pool call) -> `render_`."""
    market, data = await db_call(_read_one, call.params["symbol"], read)
    return render_(market, data)


async def _per_market(
    call: Call, read: Callable[[list[Market]], D], render_: Callable[[Market, D], R]
) -> R | list[R]:
    """`symbol`/`symbols`/all -> the markets and `read(markets)` (one thread-pool call) -> one
    row per market: an object when a single `symbol` was asked for, else an array."""
    markets, single, data = await db_call(_read_many, call.params, read)
    rows = [render_(m, data) for m in markets]
    return rows[0] if single else rows


def _ids(markets: list[Market]) -> list[int]:
    return [m.pk for m in markets]


def _symbols(markets: list[Market]) -> list[str]:
    return [m.symbol for m in markets]


# ping, time, exchangeInfo ---------------------------------------------------------------------


@endpoint("GET", response=openapi.EMPTY, summary="Test connectivity", tag="General")
async def ping(call: Call) -> dict[str, Any]:
    return {}


@endpoint("GET", response=schema.SERVER_TIME, summary="Server time", tag="General")
async def server_time(call: Call) -> dict[str, Any]:
    return {"serverTime": now_ms()}


@endpoint(
    "GET",
    weight=20,
    params=schema.MARKETS_PARAMS,
    response=schema.EXCHANGE_INFO,
    summary="Exchange information: symbols, filters, rate limits",
    tag="General",
)
async def exchange_info(call: Call) -> dict[str, Any]:
    markets, _ = await db_call(markets_selected, call.params)
    return render.exchange_info(markets, server_time=now_ms())


# One market -----------------------------------------------------------------------------------


@endpoint(
    "GET",
    weight=schema.depth_weight,
    weight_doc="5 (limit <= 100), 25 (<= 500), 50 (<= 1000), 250 (<= 5000)",
    params=schema.DEPTH_PARAMS,
    response=schema.DEPTH,
    summary="Order book",
    description="lastUpdateId is the book update id shared with the <symbol>@depth stream.",
)
async def depth(call: Call) -> dict[str, Any]:
    n = call.params["limit"]
    return await _one_market(
        call, lambda m: selectors.depth_get(symbol=m.symbol, limit=n), render.depth
    )


@endpoint(
    "GET",
    weight=25,
    params=schema.TRADES_PARAMS,
    response=openapi.array(schema.TRADE),
    summary="Recent trades, oldest first",
)
async def trades(call: Call) -> list[dict[str, Any]]:
    n = call.params["limit"]
    return await _one_market(
        call, lambda m: selectors.trade_list_recent(market_id=m.pk, limit=n), render.trades
    )


@endpoint(
    "GET",
    weight=4,
    params=schema.AGG_TRADES_PARAMS,
    response=openapi.array(schema.AGG_TRADE),
    summary="Trades in aggregate-trade form (one row per trade: f == l == a)",
    description=(
        "With neither fromId nor startTime: the most recent `limit` trades. Any range is"
        " accepted (clients send startTime and endTime = startTime + 1 h)."
    ),
)
async def agg_trades(call: Call) -> list[dict[str, Any]]:
    p = call.params
    return await _one_market(
        call,
        lambda m: selectors.trade_list_range(
            market_id=m.pk,
            from_id=p["fromId"],
            start_ms=p["startTime"],
            end_ms=p["endTime"],
            limit=p["limit"],
        ),
        render.agg_trades,
    )


_KLINES_DOC = (
    "Candles without trades carry the previous close and zero volume; candles before the"
    " market's first trade are omitted. With startTime: the oldest from it; otherwise the"
    " most recent up to endTime or now. Trades the roll-up has not reached yet (the last"
    " moments') are added from the trade table."
)


@endpoint(
    "GET",
    weight=schema.klines_weight,
    weight_doc="2 (limit <= 100), 5 (<= 500, the default), 10 (<= 1000)",
    params=schema.KLINES_PARAMS,
    response=openapi.array(schema.KLINE),
    summary="Candlesticks, read from the candles the worker rolls up from the trades",
    description=_KLINES_DOC,
)
async def klines(call: Call) -> list[list[Any]]:
    return await _klines(call)


@endpoint(
    "GET",
    weight=2,
    params=schema.KLINES_PARAMS,
    response=openapi.array(schema.KLINE),
    summary="Candlesticks for display: the same candles as /klines",
    description=_KLINES_DOC,
)
async def ui_klines(call: Call) -> list[list[Any]]:
    return await _klines(call)


async def _klines(call: Call) -> list[list[Any]]:
    p = call.params
    return await _one_market(
        call,
        lambda m: selectors.kline_list(
            market_id=m.pk,
            interval=p["interval"],
            start_ms=p["startTime"],
            end_ms=p["endTime"],
            limit=p["limit"],
            now_ms=now_ms(),
        ),
        render.klines,
    )


@endpoint(
    "GET",
    weight=2,
    params=schema.AVG_PRICE_PARAMS,
    response=schema.AVG_PRICE,
    summary="Average price: volume-weighted over the last 5 minutes, else the last price",
)
async def avg_price(call: Call) -> dict[str, Any]:
    now = now_ms()
    start = now - render.AVG_PRICE_MINS * 60_000
    return await _one_market(
        call,
        lambda m: selectors.avg_price_get(market_id=m.pk, start_ms=start),
        functools.partial(render.avg_price, now=now),
    )


# Tickers: one row per market ------------------------------------------------------------------


@endpoint(
    "GET",
    weight=schema.symbols_weight(2, 40, 80),
    weight_doc="2 with symbol; 40 for up to 20 symbols; 80 for more or for all",
    params=schema.TICKER_24H_PARAMS,
    response=schema.TICKER_24H,
    summary="24 h rolling statistics (object with symbol, else array)",
)
async def ticker_24hr(call: Call) -> Any:
    close_ms = now_ms()
    open_ms = close_ms - DAY_MS
    mini = call.params["type"] == "MINI"
    return await _per_market(
        call,
        lambda markets: (
            selectors.stats_list(market_ids=_ids(markets), start_ms=open_ms, end_ms=close_ms),
            {} if mini else selectors.book_top_list(symbols=_symbols(markets)),
        ),
        functools.partial(render.ticker_24h, open_ms=open_ms, close_ms=close_ms, mini=mini),
    )


@endpoint(
    "GET",
    weight=schema.symbols_weight(2, 4, 4),
    weight_doc="2 with symbol, else 4",
    params=schema.MARKETS_PARAMS,
    response=schema.PRICE_TICKERS,
    summary='Last trade price ("0.00000000" before the first trade)',
)
async def ticker_price(call: Call) -> Any:
    return await _per_market(
        call,
        lambda markets: selectors.last_price_list(market_ids=_ids(markets)),
        render.price_ticker,
    )


@endpoint(
    "GET",
    weight=schema.symbols_weight(2, 4, 4),
    weight_doc="2 with symbol, else 4",
    params=schema.MARKETS_PARAMS,
    response=schema.BOOK_TICKERS,
    summary="Best bid and ask (zeros for an empty side)",
)
async def ticker_book(call: Call) -> Any:
    return await _per_market(
        call,
        lambda markets: selectors.book_top_list(symbols=_symbols(markets)),
        render.book_ticker,
    )
