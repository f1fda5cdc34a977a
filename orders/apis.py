"""Order endpoints of the Binance Spot v3 API (contract sections 3 #12-19, 4.7-4.9, 5).

Each endpoint validates the syntax of its parameters (the declarations below), calls one order
service on the API thread pool, waits (bounded, settings.API_VERDICT_TIMEOUT) for the matcher's
verdict when the answer depends on it, re-reads the order and its fills, and renders Binance's
shapes. Business validation (market state, filters, funds, ownership) is the services' job.

Rendering runs on the thread pool too (`db_call`): it may touch lazy relations of the rows.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from exchange_site.binance import errors, openapi, render
from exchange_site.binance.db import db_call
from exchange_site.binance.endpoint import Call, Security, endpoint
from exchange_site.binance.openapi import DECIMAL, INT, TIME_MS, any_of, array, component, obj
from exchange_site.binance.params import (
    CLIENT_ORDER_ID_PATTERN,
    END_TIME,
    START_TIME,
    SYMBOL,
    SYMBOL_OPTIONAL,
    Kind,
    OneOf,
    Param,
    limit,
    spec,
    when,
)
from exchange_site.binance.times import from_ms, now_ms, to_ms
from exchange_site.errors import DomainError
from exchange_site.money import fmt

from . import selectors, services
from .errors import (
    DUPLICATE_ORDER,
    MARKET_CLOSED,
    ORDER_DOES_NOT_EXIST,
    UNKNOWN_ORDER,
    WOULD_TAKE,
    WOULD_TRIGGER,
    OrderRejected,
    rejected,
)
from .models import OPEN_STATUSES, Market, Order, Trade
from .verdicts import verdict_wait

T = Order.Type
ORDER_TYPES = tuple(t.value for t in T)
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
LIMIT_TIF_TYPES = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")  # need timeInForce
PRICED_TYPES = (*LIMIT_TIF_TYPES, "LIMIT_MAKER")  # need price
MARKET_TYPES = ("MARKET", "STOP_LOSS", "TAKE_PROFIT")  # take no price
NOT_MARKET = tuple(t for t in ORDER_TYPES if t != "MARKET")
RESP_TYPES = ("ACK", "RESULT", "FULL")
STP_MODES = tuple(s.value for s in Order.STP)
DAY_MS = 86_400_000
END_OF_MS = timedelta(microseconds=999)
# Statuses the matcher's verdict may leave a refused order in, with the error answered.
REJECT_ERRORS: dict[str, tuple[str, int]] = {
    "WOULD_TAKE": (WOULD_TAKE, -2010),
    "WOULD_TRIGGER_IMMEDIATELY": (WOULD_TRIGGER, -2010),
    "MARKET_CLOSED": (MARKET_CLOSED, -2010),
    "DUPLICATE_ORDER": (DUPLICATE_ORDER, -2010),
    "UNKNOWN_ORDER": UNKNOWN_ORDER,
    "INVALID_AMEND": ("Order amend rejected.", -2038),
    "INVALID_ORDER": ("Unsupported order combination.", -1014),
}


# Parameters ---------------------------------------------------------------------------------

SIDE = Param(
    "side", Kind.ENUM, required=True, choices=("BUY", "SELL"), enum_error=(-1117, "Invalid side.")
)
TYPE = Param(
    "type",
    Kind.ENUM,
    required=True,
    choices=ORDER_TYPES,
    enum_error=(-1116, "Invalid orderType."),
)
TIME_IN_FORCE = Param(
    "timeInForce",
    Kind.ENUM,
    choices=("GTC", "IOC", "FOK"),
    enum_error=(-1115, "Invalid timeInForce."),
    required_when=when("type", *LIMIT_TIF_TYPES),
    forbidden_when=when("type", "LIMIT_MAKER", *MARKET_TYPES),
)
QUANTITY = Param(
    "quantity",
    Kind.DECIMAL,
    description="Base quantity.",
    required_when=when("type", *NOT_MARKET),
)
QUOTE_ORDER_QTY = Param(
    "quoteOrderQty",
    Kind.DECIMAL,
    description="MARKET only: quote amount to spend (BUY) or receive (SELL).",
    forbidden_when=when("type", *NOT_MARKET),
)
PRICE = Param(
    "price",
    Kind.DECIMAL,
    required_when=when("type", *PRICED_TYPES),
    forbidden_when=when("type", *MARKET_TYPES),
)
STOP_PRICE = Param(
    "stopPrice",
    Kind.DECIMAL,
    description="Trigger price (last trade price) of a stop / take-profit order.",
    required_when=when("type", *STOP_TYPES),
    forbidden_when=when("type", "LIMIT", "LIMIT_MAKER", "MARKET"),
)
NEW_CLIENT_ORDER_ID = Param(
    "newClientOrderId",
    Kind.STR,
    pattern=CLIENT_ORDER_ID_PATTERN,
    description="Unique among the account's open orders; generated (22 chars) when absent.",
)
RESP_TYPE = Param(
    "newOrderRespType",
    Kind.ENUM,
    choices=RESP_TYPES,
    description="Default FULL for LIMIT and MARKET, ACK for the other types.",
)
STP_MODE = Param("selfTradePreventionMode", Kind.ENUM, choices=STP_MODES, default="NONE")
UNSUPPORTED = tuple(
    Param(name, Kind.STR, unsupported=True)
    for name in ("icebergQty", "trailingDelta", "pegPriceType", "pegOffsetValue", "pegOffsetType")
)
MARKET_QTY_RULE = OneOf(("quantity", "quoteOrderQty"), exactly=True, when=when("type", "MARKET"))

NEW_ORDER_PARAMS = spec(
    SYMBOL,
    SIDE,
    TYPE,
    TIME_IN_FORCE,
    QUANTITY,
    QUOTE_ORDER_QTY,
    PRICE,
    STOP_PRICE,
    NEW_CLIENT_ORDER_ID,
    RESP_TYPE,
    STP_MODE,
    *UNSUPPORTED,
    rules=(MARKET_QTY_RULE,),
)

ORDER_ID = Param("orderId", Kind.INT)
ORIG_CLIENT_ORDER_ID = Param("origClientOrderId", Kind.STR, pattern=CLIENT_ORDER_ID_PATTERN)
WHICH_ORDER = OneOf(("orderId", "origClientOrderId"))
CANCEL_RESTRICTIONS = Param("cancelRestrictions", Kind.STR, unsupported=True)


# Response schemas ---------------------------------------------------------------------------

STATUS = openapi.enum(
    "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"
)
ACK_FIELDS: dict[str, openapi.Schema] = {
    "symbol": openapi.STRING,
    "orderId": INT,
    "orderListId": INT,
    "clientOrderId": openapi.STRING,
    "transactTime": TIME_MS,
}
RESULT_FIELDS: dict[str, openapi.Schema] = {
    **ACK_FIELDS,
    "price": DECIMAL,
    "origQty": DECIMAL,
    "executedQty": DECIMAL,
    "origQuoteOrderQty": DECIMAL,
    "cummulativeQuoteQty": DECIMAL,
    "status": STATUS,
    "timeInForce": openapi.enum("GTC", "IOC", "FOK"),
    "type": openapi.enum(*ORDER_TYPES),
    "side": openapi.enum("BUY", "SELL"),
    "workingTime": INT,
    "selfTradePreventionMode": openapi.enum(*STP_MODES),
}
FILL = obj(
    {
        "price": DECIMAL,
        "qty": DECIMAL,
        "commission": DECIMAL,
        "commissionAsset": openapi.STRING,
        "tradeId": INT,
    }
)
ORDER_ACK = component("OrderAck", obj(ACK_FIELDS))
ORDER_RESULT = component(
    "OrderResult", obj({**RESULT_FIELDS, "stopPrice": DECIMAL}, optional=("stopPrice",))
)
ORDER_FULL = component(
    "OrderFull",
    obj({**RESULT_FIELDS, "stopPrice": DECIMAL, "fills": array(FILL)}, optional=("stopPrice",)),
)
# anyOf: a FULL answer also satisfies the RESULT and ACK shapes.
NEW_ORDER_RESPONSE = any_of(ORDER_ACK, ORDER_RESULT, ORDER_FULL)
ORDER = component(
    "Order",
    obj(
        {
            "symbol": openapi.STRING,
            "orderId": INT,
            "orderListId": INT,
            "clientOrderId": openapi.STRING,
            "price": DECIMAL,
            "origQty": DECIMAL,
            "executedQty": DECIMAL,
            "cummulativeQuoteQty": DECIMAL,
            "status": STATUS,
            "timeInForce": openapi.enum("GTC", "IOC", "FOK"),
            "type": openapi.enum(*ORDER_TYPES),
            "side": openapi.enum("BUY", "SELL"),
            "stopPrice": DECIMAL,
            "icebergQty": DECIMAL,
            "time": TIME_MS,
            "updateTime": TIME_MS,
            "isWorking": openapi.BOOL,
            "workingTime": INT,
            "origQuoteOrderQty": DECIMAL,
            "selfTradePreventionMode": openapi.enum(*STP_MODES),
        }
    ),
)
CANCEL_REPORT = component(
    "CancelReport",
    obj(
        {
            "symbol": openapi.STRING,
            "origClientOrderId": openapi.STRING,
            "orderId": INT,
            "orderListId": INT,
            "clientOrderId": openapi.STRING,
            "transactTime": TIME_MS,
            "price": DECIMAL,
            "origQty": DECIMAL,
            "executedQty": DECIMAL,
            "origQuoteOrderQty": DECIMAL,
            "cummulativeQuoteQty": DECIMAL,
            "status": STATUS,
            "timeInForce": openapi.enum("GTC", "IOC", "FOK"),
            "type": openapi.enum(*ORDER_TYPES),
            "side": openapi.enum("BUY", "SELL"),
            "selfTradePreventionMode": openapi.enum(*STP_MODES),
            "stopPrice": DECIMAL,
        },
        optional=("stopPrice",),
    ),
)
ACCOUNT_TRADE = component(
    "AccountTrade",
    obj(
        {
            "symbol": openapi.STRING,
            "id": INT,
            "orderId": INT,
            "orderListId": INT,
            "price": DECIMAL,
            "qty": DECIMAL,
            "quoteQty": DECIMAL,
            "commission": DECIMAL,
            "commissionAsset": openapi.STRING,
            "time": TIME_MS,
            "isBuyer": openapi.BOOL,
            "isMaker": openapi.BOOL,
            "isBestMatch": openapi.BOOL,
        }
    ),
)


# Rendering (sync: runs on the thread pool) ----------------------------------------------------


def _amounts(market: Market) -> render.Amounts:
    return render.Amounts(market.base.precision, market.quote.precision)


def _status(order: Order) -> str:
    return selectors.order_status_public(order)


def _working_time(order: Order) -> int:
    if order.working_at is not None:
        return to_ms(order.working_at)
    if order.type in STOP_TYPES and order.status in OPEN_STATUSES:
        return -1  # a stop order not yet triggered is not working
    return to_ms(order.created_at)


def _orig_qty(order: Order) -> Decimal:
    # A MARKET order by quote amount has no base quantity: report what it executed (Binance).
    qty: Decimal = order.quantity if order.quantity is not None else order.executed_qty
    return qty


def render_ack(order: Order, symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "orderId": order.pk,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": to_ms(order.created_at),
    }


def render_result(order: Order, market: Market, *, accepted_only: bool = False) -> dict[str, Any]:
    """RESULT form; `accepted_only`: the state at acceptance (no verdict in time)."""
    result = render_ack(order, market.symbol)
    result.update(
        {
            "price": _amounts(market).price(order.price),
            "origQty": _amounts(market).qty(_orig_qty(order)),
            "executedQty": _amounts(market).qty(
                Decimal(0) if accepted_only else order.executed_qty
            ),
            "origQuoteOrderQty": _amounts(market).quote(order.quote_order_qty),
            "cummulativeQuoteQty": _amounts(market).quote(
                Decimal(0) if accepted_only else order.cumulative_quote_qty
            ),
            "status": "NEW" if accepted_only else _status(order),
            "timeInForce": order.time_in_force or "GTC",
            "type": order.type,
            "side": order.side,
            "workingTime": _working_time(order),
            "selfTradePreventionMode": order.stp_mode,
        }
    )
    if order.type in STOP_TYPES:
        result["stopPrice"] = _amounts(market).price(order.stop_price)
    return result


def render_fill(order: Order, market: Market, trade: Trade) -> dict[str, Any]:
    # Fees are charged in the asset received: the buyer's in base, the seller's in quote.
    if order.side == "BUY":
        fee, asset = trade.buyer_fee, market.base
    else:
        fee, asset = trade.seller_fee, market.quote
    return {
        "price": _amounts(market).price(trade.price),
        "qty": _amounts(market).qty(trade.qty),
        "commission": fmt(fee, asset.precision),
        "commissionAsset": asset.code,
        "tradeId": trade.pk,
    }


def render_query(order: Order, market: Market) -> dict[str, Any]:
    return {
        "symbol": market.symbol,
        "orderId": order.pk,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": _amounts(market).price(order.price),
        "origQty": _amounts(market).qty(_orig_qty(order)),
        "executedQty": _amounts(market).qty(order.executed_qty),
        "cummulativeQuoteQty": _amounts(market).quote(order.cumulative_quote_qty),
        "status": _status(order),
        "timeInForce": order.time_in_force or "GTC",
        "type": order.type,
        "side": order.side,
        "stopPrice": _amounts(market).price(order.stop_price),
        "icebergQty": _amounts(market).qty(Decimal(0)),
        "time": to_ms(order.created_at),
        "updateTime": to_ms(order.updated_at),
        "isWorking": order.is_working,
        "workingTime": _working_time(order),
        "origQuoteOrderQty": _amounts(market).quote(order.quote_order_qty),
        "selfTradePreventionMode": order.stp_mode,
    }


def render_cancel(order: Order, market: Market, cancel_client_id: str) -> dict[str, Any]:
    report = {
        "symbol": market.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.pk,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": to_ms(order.done_at or order.updated_at),
        "price": _amounts(market).price(order.price),
        "origQty": _amounts(market).qty(_orig_qty(order)),
        "executedQty": _amounts(market).qty(order.executed_qty),
        "origQuoteOrderQty": _amounts(market).quote(order.quote_order_qty),
        "cummulativeQuoteQty": _amounts(market).quote(order.cumulative_quote_qty),
        "status": _status(order),
        "timeInForce": order.time_in_force or "GTC",
        "type": order.type,
        "side": order.side,
        "selfTradePreventionMode": order.stp_mode,
    }
    if order.type in STOP_TYPES:
        report["stopPrice"] = _amounts(market).price(order.stop_price)
    return report


def reject_error(order: Order) -> OrderRejected:
    msg, code = REJECT_ERRORS.get(
        order.reject_reason, (f"Order rejected ({order.reject_reason}).", -2010)
    )
    return OrderRejected(msg, code=code)


def _reread(order: Order) -> Order:
    """The order as the matcher left it (the caller's copy is the accepted state)."""
    return selectors.order_get(
        user_id=order.user_id, market=order.market, order_id=order.pk, client_order_id=None
    )


def _client_id() -> str:
    return secrets.token_urlsafe(16)[:22]  # 22 chars of [A-Za-z0-9_-], as Binance generates


async def _wait(request_id: str) -> bool:
    if not request_id:
        return True
    return await verdict_wait(request_id, timeout=settings.API_VERDICT_TIMEOUT)


# POST /api/v3/order, /api/v3/order/test -------------------------------------------------------


def _place_kwargs(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": p["symbol"],
        "side": p["side"],
        "type": p["type"],
        "time_in_force": p["timeInForce"],
        "quantity": p["quantity"],
        "quote_order_qty": p["quoteOrderQty"],
        "price": p["price"],
        "stop_price": p["stopPrice"],
        "client_order_id": p["newClientOrderId"] or _client_id(),
        "stp_mode": p["selfTradePreventionMode"],
    }


def _resp_type(p: dict[str, Any]) -> str:
    if p["newOrderRespType"]:
        return str(p["newOrderRespType"])
    return "FULL" if p["type"] in ("LIMIT", "MARKET") else "ACK"


def _must_wait(p: dict[str, Any], resp_type: str) -> bool:
    # LIMIT_MAKER ("would take") and stop orders ("would trigger") are refused by the engine,
    # and that refusal must be the answer to this request (contract 5.3).
    return resp_type != "ACK" or p["type"] not in ("LIMIT", "MARKET")


def new_order_response(accepted: Order, *, decided: bool, resp_type: str) -> dict[str, Any]:
    market = accepted.market
    if not decided:
        if resp_type == "ACK":
            return render_ack(accepted, market.symbol)
        result = render_result(accepted, market, accepted_only=True)
        if resp_type == "FULL":
            result["fills"] = []
        return result
    order = _reread(accepted)
    if order.status == Order.Status.REJECTED:
        raise reject_error(order)
    if resp_type == "ACK":
        return render_ack(order, market.symbol)
    result = render_result(order, market)
    if resp_type == "FULL":
        fills = selectors.fills_for_order(order_id=order.pk)
        result["fills"] = [render_fill(order, market, t) for t in fills]
    return result


@endpoint(
    "POST",
    security=Security.TRADE,
    weight=1,
    orders=1,
    params=NEW_ORDER_PARAMS,
    response=NEW_ORDER_RESPONSE,
    summary="New order",
    description=(
        "RESULT/FULL reflect the matcher's verdict; if it does not come within the bounded"
        " wait, the accepted state is returned (status NEW, no fills): poll GET /order."
        " LIMIT_MAKER that would match (-2010 Order would immediately match and take.) and stop"
        " orders that would trigger at once are refused synchronously."
    ),
    tag="Trade",
)
async def order_new(call: Call) -> dict[str, Any]:
    p = call.params
    submitted = await db_call(services.order_place, user_id=call.user_id, **_place_kwargs(p))
    resp_type = _resp_type(p)
    decided = await _wait(submitted.request_id) if _must_wait(p, resp_type) else False
    if not decided and resp_type == "ACK":
        # No relation needed: the answer is the accepted row.
        return render_ack(submitted.order, p["symbol"])
    return await db_call(new_order_response, submitted.order, decided=decided, resp_type=resp_type)


@endpoint(
    "POST",
    security=Security.TRADE,
    weight=1,
    params=NEW_ORDER_PARAMS,
    response=openapi.EMPTY,
    summary="Test new order: every check (filters, funds), nothing created",
    tag="Trade",
)
async def order_test(call: Call) -> dict[str, Any]:
    await db_call(
        services.order_place, user_id=call.user_id, validate_only=True, **_place_kwargs(call.params)
    )
    return {}


# DELETE /api/v3/order -------------------------------------------------------------------------


def cancel_response(accepted: Order, *, cancel_client_id: str) -> dict[str, Any]:
    order = _reread(accepted)
    if order.status != Order.Status.CANCELED:
        # Filled or expired before the engine applied the cancel: nothing was canceled.
        raise rejected(UNKNOWN_ORDER)
    return render_cancel(order, order.market, cancel_client_id)


@endpoint(
    "DELETE",
    security=Security.TRADE,
    weight=1,
    params=spec(
        SYMBOL,
        ORDER_ID,
        ORIG_CLIENT_ORDER_ID,
        Param(
            "newClientOrderId",
            Kind.STR,
            pattern=CLIENT_ORDER_ID_PATTERN,
            description="Id of this cancel request (echoed as clientOrderId).",
        ),
        CANCEL_RESTRICTIONS,
        rules=(WHICH_ORDER,),
    ),
    response=CANCEL_REPORT,
    summary="Cancel an order",
    description=(
        "Answers once the matcher has applied the cancel (then the order is gone from"
        " openOrders); -1007 if it has not within the bounded wait."
    ),
    tag="Trade",
)
async def order_cancel(call: Call) -> dict[str, Any]:
    p = call.params
    submitted = await db_call(
        services.order_cancel,
        user_id=call.user_id,
        symbol=p["symbol"],
        order_id=p["orderId"],
        client_order_id=p["origClientOrderId"],
    )
    if not await _wait(submitted.request_id):
        raise errors.backend_timeout()
    return await db_call(
        cancel_response, submitted.order, cancel_client_id=p["newClientOrderId"] or _client_id()
    )


# GET /api/v3/order ----------------------------------------------------------------------------


def order_query(user_id: int, symbol: str, order_id: int | None, client_id: str | None) -> Any:
    market = selectors.market_get(symbol=symbol)
    order = selectors.order_get(
        user_id=user_id, market=market, order_id=order_id, client_order_id=client_id
    )
    if order.status == Order.Status.REJECTED:
        # The engine refused it (e.g. LIMIT_MAKER would take): for the client it was never
        # created (contract 5.3), and the refusal was the answer to its POST.
        raise rejected(ORDER_DOES_NOT_EXIST)
    return render_query(order, market)


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=4,
    params=spec(SYMBOL, ORDER_ID, ORIG_CLIENT_ORDER_ID, rules=(WHICH_ORDER,)),
    response=ORDER,
    summary="Query an order (-2013 when unknown)",
    tag="Trade",
)
async def order_get(call: Call) -> dict[str, Any]:
    p = call.params
    result: dict[str, Any] = await db_call(
        order_query, call.user_id, p["symbol"], p["orderId"], p["origClientOrderId"]
    )
    return result


# openOrders -----------------------------------------------------------------------------------


def open_orders(user_id: int, symbol: str | None) -> list[dict[str, Any]]:
    market = selectors.market_get(symbol=symbol) if symbol is not None else None
    return [
        render_query(o, o.market) for o in selectors.order_list_open(user_id=user_id, market=market)
    ]


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=lambda raw: 6 if raw.get("symbol") else 80,
    weight_doc="6 with symbol, 80 without",
    params=spec(SYMBOL_OPTIONAL),
    response=array(ORDER),
    summary="Open orders (all symbols when symbol is omitted), oldest first",
    tag="Trade",
)
async def open_orders_get(call: Call) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await db_call(open_orders, call.user_id, call.params["symbol"])
    return result


def cancel_all_response(accepted: Sequence[Order]) -> list[dict[str, Any]]:
    reports = []
    for order in accepted:
        current = _reread(order)
        if current.status == Order.Status.CANCELED:
            reports.append(render_cancel(current, current.market, _client_id()))
    if not reports:
        raise rejected(UNKNOWN_ORDER)  # everything finished before the cancel applied
    return reports


@endpoint(
    "DELETE",
    security=Security.TRADE,
    weight=1,
    params=spec(SYMBOL),
    response=array(CANCEL_REPORT),
    summary="Cancel all open orders of a symbol (-2011 when none is open)",
    tag="Trade",
)
async def open_orders_cancel(call: Call) -> list[dict[str, Any]]:
    submitted = await db_call(
        services.order_cancel_all, user_id=call.user_id, symbol=call.params["symbol"]
    )
    request_ids = {s.request_id for s in submitted if s.request_id}
    decided = await asyncio.gather(*(_wait(rid) for rid in request_ids))
    if not all(decided):
        raise errors.backend_timeout()
    result: list[dict[str, Any]] = await db_call(cancel_all_response, [s.order for s in submitted])
    return result


# allOrders, myTrades ------------------------------------------------------------------------


def _range(p: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    start, end = p["startTime"], p["endTime"]
    if start is not None and end is not None and end - start > DAY_MS:
        raise errors.too_many_hours(24)
    return (
        from_ms(start) if start is not None else None,
        # Inclusive of the whole end millisecond (the selectors take created_at <= end, and
        # created_at has microseconds).
        from_ms(end) + END_OF_MS if end is not None else None,
    )


def all_orders(user_id: int, p: dict[str, Any]) -> list[dict[str, Any]]:
    market = selectors.market_get(symbol=p["symbol"])
    start, end = _range(p)
    rows = selectors.order_list_all(
        user_id=user_id,
        market=market,
        from_id=p["orderId"],
        start=start,
        end=end,
        limit=p["limit"],
    )
    # Refused orders were never created as far as the client knows (see order_query).
    return [render_query(o, market) for o in rows if o.status != Order.Status.REJECTED]


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=20,
    params=spec(
        SYMBOL,
        Param("orderId", Kind.INT, description="Orders with an id >= this one."),
        START_TIME,
        END_TIME,
        limit(500, 1000),
    ),
    response=array(ORDER),
    summary="All orders of a symbol, ascending orderId (at most 24 h between start and end)",
    tag="Trade",
)
async def all_orders_get(call: Call) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await db_call(all_orders, call.user_id, call.params)
    return result


def my_trades(user_id: int, p: dict[str, Any]) -> list[dict[str, Any]]:
    market = selectors.market_get(symbol=p["symbol"])
    start, end = _range(p)
    trades = selectors.trade_list_for_user(
        user_id=user_id,
        market=market,
        order_id=p["orderId"],
        from_id=p["fromId"],
        start=start,
        end=end,
        limit=p["limit"],
    )
    rows: list[dict[str, Any]] = []
    for t in trades:
        buyer_order = t.maker_order_id if t.is_buyer_maker else t.taker_order_id
        seller_order = t.taker_order_id if t.is_buyer_maker else t.maker_order_id
        # A self-trade appears twice: once per side, each with its own order and commission.
        sides = []
        if t.buyer_id == user_id:
            sides.append((True, buyer_order, t.is_buyer_maker, t.buyer_fee, market.base))
        if t.seller_id == user_id:
            sides.append((False, seller_order, not t.is_buyer_maker, t.seller_fee, market.quote))
        for is_buyer, order_id, is_maker, fee, fee_asset in sides:
            if p["orderId"] is not None and order_id != p["orderId"]:
                continue
            rows.append(
                {
                    "symbol": market.symbol,
                    "id": t.pk,
                    "orderId": order_id,
                    "orderListId": -1,
                    "price": _amounts(market).price(t.price),
                    "qty": _amounts(market).qty(t.qty),
                    "quoteQty": _amounts(market).quote(t.quote_qty),
                    "commission": fmt(fee, fee_asset.precision),
                    "commissionAsset": fee_asset.code,
                    "time": to_ms(t.created_at),
                    "isBuyer": is_buyer,
                    "isMaker": is_maker,
                    "isBestMatch": True,
                }
            )
    return rows[: p["limit"]]


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=20,
    params=spec(
        SYMBOL,
        Param("orderId", Kind.INT, description="Only the trades of this order."),
        START_TIME,
        END_TIME,
        Param("fromId", Kind.INT, description="Trades with an id >= this one."),
        limit(500, 1000),
    ),
    response=array(ACCOUNT_TRADE),
    summary="The account's trades of a symbol, ascending id (one row per side)",
    tag="Trade",
)
async def my_trades_get(call: Call) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await db_call(my_trades, call.user_id, call.params)
    return result


# POST /api/v3/order/cancelReplace ---------------------------------------------------------------

CANCEL_REPLACE_PARAMS = spec(
    SYMBOL,
    SIDE,
    TYPE,
    Param(
        "cancelReplaceMode",
        Kind.ENUM,
        required=True,
        choices=("STOP_ON_FAILURE", "ALLOW_FAILURE"),
        description=(
            "STOP_ON_FAILURE: the new order is placed only if the cancel succeeds (atomically in"
            " the matcher). ALLOW_FAILURE: the new order is placed whatever the cancel's outcome."
        ),
    ),
    TIME_IN_FORCE,
    QUANTITY,
    QUOTE_ORDER_QTY,
    PRICE,
    STOP_PRICE,
    Param("cancelOrderId", Kind.INT),
    Param("cancelOrigClientOrderId", Kind.STR, pattern=CLIENT_ORDER_ID_PATTERN),
    Param(
        "cancelNewClientOrderId",
        Kind.STR,
        pattern=CLIENT_ORDER_ID_PATTERN,
        description="Id of the cancel request (echoed in cancelResponse.clientOrderId).",
    ),
    NEW_CLIENT_ORDER_ID,
    RESP_TYPE,
    STP_MODE,
    CANCEL_RESTRICTIONS,
    Param(
        "orderRateLimitExceededMode",
        Kind.ENUM,
        choices=("DO_NOTHING",),
        description="Only DO_NOTHING (the default) is offered.",
    ),
    *UNSUPPORTED,
    rules=(MARKET_QTY_RULE, OneOf(("cancelOrderId", "cancelOrigClientOrderId"))),
)
CANCEL_REPLACE = component(
    "CancelReplace",
    obj(
        {
            "cancelResult": openapi.enum("SUCCESS"),
            "newOrderResult": openapi.enum("SUCCESS"),
            "cancelResponse": CANCEL_REPORT,
            "newOrderResponse": NEW_ORDER_RESPONSE,
        }
    ),
)


class CancelReplaceFailed(DomainError):
    """-2021 (one side failed, HTTP 409) / -2022 (nothing done, HTTP 400), with Binance's
    `data` object describing each side."""

    def __init__(self, *, code: int, data: dict[str, Any]) -> None:
        msg = (
            "Order cancel-replace partially failed."
            if code == -2021
            else ("Order cancel-replace failed.")
        )
        super().__init__(msg, code=code, http_status=409 if code == -2021 else 400)
        self.data = data


def _err(exc: DomainError) -> dict[str, Any]:
    return {"code": exc.code, "msg": exc.msg}


def cancel_replace_response(
    old: Order,
    new: Order,
    *,
    decided: bool,
    resp_type: str,
    cancel_client_id: str,
) -> dict[str, Any]:
    market = old.market
    if not decided:
        raise errors.backend_timeout()
    old_now, new_now = _reread(old), _reread(new)
    canceled = old_now.status == Order.Status.CANCELED
    placed = new_now.status != Order.Status.REJECTED
    cancel_part: dict[str, Any] = (
        render_cancel(old_now, market, cancel_client_id)
        if canceled
        else _err(rejected(UNKNOWN_ORDER))
    )
    new_part: dict[str, Any] | None = None
    if placed:
        new_part = new_order_response(new, decided=True, resp_type=resp_type)
    if canceled and placed:
        return {
            "cancelResult": "SUCCESS",
            "newOrderResult": "SUCCESS",
            "cancelResponse": cancel_part,
            "newOrderResponse": new_part,
        }
    engine_stopped = new_now.reject_reason == "UNKNOWN_ORDER" and not canceled
    data = {
        "cancelResult": "SUCCESS" if canceled else "FAILURE",
        "newOrderResult": (
            "SUCCESS" if placed else ("NOT_ATTEMPTED" if engine_stopped else "FAILURE")
        ),
        "cancelResponse": cancel_part,
        "newOrderResponse": new_part
        if placed
        else (None if engine_stopped else _err(reject_error(new_now))),
    }
    raise CancelReplaceFailed(code=-2021 if canceled or placed else -2022, data=data)


@endpoint(
    "POST",
    security=Security.TRADE,
    weight=1,
    orders=1,
    params=CANCEL_REPLACE_PARAMS,
    response=CANCEL_REPLACE,
    summary="Cancel an order and place a new one (Binance cancelReplace)",
    description=(
        "Failures answer -2022 'Order cancel-replace failed.' (HTTP 400) or -2021 'Order"
        " cancel-replace partially failed.' (HTTP 409) with a `data` object: cancelResult,"
        " newOrderResult (SUCCESS/FAILURE/NOT_ATTEMPTED), cancelResponse, newOrderResponse."
        " The new order's parameters are validated before anything is canceled: a new order"
        " that fails validation leaves the old one untouched (cancelResult NOT_ATTEMPTED)."
    ),
    tag="Trade",
)
async def order_cancel_replace(call: Call) -> dict[str, Any]:
    p = call.params
    mode = p["cancelReplaceMode"]
    place = _place_kwargs(p)
    symbol = place.pop("symbol")
    cancel_client_id = p["cancelNewClientOrderId"] or _client_id()
    try:
        old_sub, new_sub = await db_call(
            services.order_cancel_replace,
            user_id=call.user_id,
            symbol=symbol,
            cancel_order_id=p["cancelOrderId"],
            cancel_client_order_id=p["cancelOrigClientOrderId"],
            mode=mode,
            **place,
        )
    except DomainError as exc:
        if exc.code == UNKNOWN_ORDER[1]:
            # The order to cancel is unknown or done.
            if mode == "STOP_ON_FAILURE":
                raise CancelReplaceFailed(
                    code=-2022,
                    data={
                        "cancelResult": "FAILURE",
                        "newOrderResult": "NOT_ATTEMPTED",
                        "cancelResponse": _err(exc),
                        "newOrderResponse": None,
                    },
                ) from None
            return await _allow_failure_place(call, exc, place, symbol)
        if exc.code in (-1102, -1106, -1100, -1121):
            raise  # a syntax-level error of the request as a whole
        raise CancelReplaceFailed(
            code=-2022,
            data={
                "cancelResult": "NOT_ATTEMPTED",
                "newOrderResult": "FAILURE",
                "cancelResponse": None,
                "newOrderResponse": _err(exc),
            },
        ) from None
    decided = await _wait(new_sub.request_id)
    result: dict[str, Any] = await db_call(
        cancel_replace_response,
        old_sub.order,
        new_sub.order,
        decided=decided,
        resp_type=_resp_type(p),
        cancel_client_id=cancel_client_id,
    )
    return result


async def _allow_failure_place(
    call: Call, cancel_error: DomainError, place: dict[str, Any], symbol: str
) -> dict[str, Any]:
    """ALLOW_FAILURE with nothing to cancel: place the new order alone (Binance semantics)."""
    p = call.params
    try:
        submitted = await db_call(
            services.order_place, user_id=call.user_id, symbol=symbol, **place
        )
    except DomainError as exc:
        raise CancelReplaceFailed(
            code=-2022,
            data={
                "cancelResult": "FAILURE",
                "newOrderResult": "FAILURE",
                "cancelResponse": _err(cancel_error),
                "newOrderResponse": _err(exc),
            },
        ) from None
    resp_type = _resp_type(p)
    decided = await _wait(submitted.request_id)
    try:
        new_part = await db_call(
            new_order_response, submitted.order, decided=decided, resp_type=resp_type
        )
    except DomainError as exc:
        new_result, new_part = "FAILURE", _err(exc)
    else:
        new_result = "SUCCESS"
    raise CancelReplaceFailed(
        code=-2021 if new_result == "SUCCESS" else -2022,
        data={
            "cancelResult": "FAILURE",
            "newOrderResult": new_result,
            "cancelResponse": _err(cancel_error),
            "newOrderResponse": new_part,
        },
    )


# PUT /api/v3/order/amend/keepPriority -----------------------------------------------------------

AMENDED_ORDER = obj(
    {
        "symbol": openapi.STRING,
        "orderId": INT,
        "orderListId": INT,
        "origClientOrderId": openapi.STRING,
        "clientOrderId": openapi.STRING,
        "price": DECIMAL,
        "qty": DECIMAL,
        "executedQty": DECIMAL,
        "preventedQty": DECIMAL,
        "quoteOrderQty": DECIMAL,
        "cumulativeQuoteQty": DECIMAL,
        "status": STATUS,
        "timeInForce": openapi.enum("GTC", "IOC", "FOK"),
        "type": openapi.enum(*ORDER_TYPES),
        "side": openapi.enum("BUY", "SELL"),
        "workingTime": INT,
        "selfTradePreventionMode": openapi.enum(*STP_MODES),
    }
)
AMEND = component(
    "AmendKeepPriority", obj({"transactTime": TIME_MS, "amendedOrder": AMENDED_ORDER})
)


def amend_response(accepted: Order, *, new_qty: Decimal) -> dict[str, Any]:
    order = _reread(accepted)
    market = order.market
    if order.quantity != new_qty:
        # The engine refused the amend (the order finished, or newQty <= its filled quantity).
        if order.status not in OPEN_STATUSES:
            raise rejected(UNKNOWN_ORDER)
        msg, code = REJECT_ERRORS["INVALID_AMEND"]
        raise OrderRejected(msg, code=code)
    return {
        "transactTime": now_ms(),
        "amendedOrder": {
            "symbol": market.symbol,
            "orderId": order.pk,
            "orderListId": -1,
            "origClientOrderId": order.client_order_id,
            "clientOrderId": order.client_order_id,
            "price": _amounts(market).price(order.price),
            "qty": _amounts(market).qty(order.quantity),
            "executedQty": _amounts(market).qty(order.executed_qty),
            "preventedQty": _amounts(market).qty(Decimal(0)),
            "quoteOrderQty": _amounts(market).quote(order.quote_order_qty),
            "cumulativeQuoteQty": _amounts(market).quote(order.cumulative_quote_qty),
            "status": _status(order),
            "timeInForce": order.time_in_force or "GTC",
            "type": order.type,
            "side": order.side,
            "workingTime": _working_time(order),
            "selfTradePreventionMode": order.stp_mode,
        },
    }


@endpoint(
    "PUT",
    security=Security.TRADE,
    weight=4,
    params=spec(
        SYMBOL,
        ORDER_ID,
        ORIG_CLIENT_ORDER_ID,
        Param(
            "newQty",
            Kind.DECIMAL,
            required=True,
            description="New total quantity: below the current one, above the filled one.",
        ),
        Param(
            "newClientOrderId",
            Kind.STR,
            unsupported=True,
            description="The order keeps its client order id.",
        ),
        rules=(WHICH_ORDER,),
    ),
    response=AMEND,
    summary="Reduce an order's quantity keeping its queue priority",
    tag="Trade",
)
async def order_amend_keep_priority(call: Call) -> dict[str, Any]:
    p = call.params
    submitted = await db_call(
        services.order_amend_keep_priority,
        user_id=call.user_id,
        symbol=p["symbol"],
        order_id=p["orderId"],
        client_order_id=p["origClientOrderId"],
        new_qty=p["newQty"],
    )
    if not await _wait(submitted.request_id):
        raise errors.backend_timeout()
    result: dict[str, Any] = await db_call(amend_response, submitted.order, new_qty=p["newQty"])
    return result
