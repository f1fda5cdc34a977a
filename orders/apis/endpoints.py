"""Order endpoints of the Binance Spot v3 API (contract sections 3 #12-19, 4.7-4.9, 5).

Each endpoint is parameters -> one call -> render (`render`). Commands call one service of
orders.outcomes (accept, wait for the matcher's verdict when the answer depends on it, re-read)
and render its typed outcome on the event loop (outcomes carry their market with its assets: no
query). Reads run the order selectors and the rendering of their rows in one call on the API
thread pool. Parameter syntax is declared in `schema`; business validation (market state,
filters, funds, ownership) is the services' job.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from exchange_site.binance import errors, openapi
from exchange_site.binance.db import db_call
from exchange_site.binance.endpoint import Call, Security, endpoint
from exchange_site.binance.openapi import array
from exchange_site.binance.times import end_of_ms, from_ms
from orders import outcomes, selectors, services
from orders.models import Order
from orders.outcomes import NewOrder

from . import render, schema

DAY_MS = 86_400_000


# Parameters -> service arguments --------------------------------------------------------------


def _client_id() -> str:
    return secrets.token_urlsafe(16)[:22]  # 22 chars of [A-Za-z0-9_-], as Binance generates


def _new_order(p: dict[str, Any]) -> NewOrder:
    return {
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


def _range(p: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    start, end = p["startTime"], p["endTime"]
    if start is not None and end is not None and end - start > DAY_MS:
        raise errors.too_many_hours(24)
    return (
        from_ms(start) if start is not None else None,
        # Inclusive of the whole end millisecond (the selectors take created_at <= end, and
        # created_at has microseconds).
        end_of_ms(end) if end is not None else None,
    )


# Reads: selectors and rendering in one call on the thread pool (sync) -------------------------
# (A long list rendered on the event loop would hold up every other request of the process.)


def _order_query(
    user_id: int, symbol: str, order_id: int | None, client_id: str | None
) -> dict[str, Any]:
    market = selectors.market_get(symbol=symbol)
    order = selectors.order_get_visible(
        user_id=user_id, market=market, order_id=order_id, client_order_id=client_id
    )
    return render.query(order, market)


def _open_orders(user_id: int, symbol: str | None) -> list[dict[str, Any]]:
    market = selectors.market_get(symbol=symbol) if symbol is not None else None
    rows = selectors.order_list_open(user_id=user_id, market=market)
    return [render.query(o, o.market) for o in rows]  # market and assets: select_related


def _all_orders(user_id: int, p: dict[str, Any]) -> list[dict[str, Any]]:
    market = selectors.market_get(symbol=p["symbol"])
    start, end = _range(p)
    rows = selectors.order_list_all(
        user_id=user_id, market=market, from_id=p["orderId"], start=start, end=end, limit=p["limit"]
    )
    # Refused orders were never created as far as the client knows (see order_get_visible).
    return [render.query(o, market) for o in rows if o.status != Order.Status.REJECTED]


def _my_trades(user_id: int, p: dict[str, Any]) -> list[dict[str, Any]]:
    market = selectors.market_get(symbol=p["symbol"])
    start, end = _range(p)
    sides = selectors.trade_side_list_for_user(
        user_id=user_id,
        market=market,
        order_id=p["orderId"],
        from_id=p["fromId"],
        start=start,
        end=end,
        limit=p["limit"],
    )
    return [render.account_trade(side, market) for side in sides]


# POST /api/v3/order, /api/v3/order/test -------------------------------------------------------


@endpoint(
    "POST",
    security=Security.TRADE,
    weight=1,
    orders=1,
    params=schema.NEW_ORDER_PARAMS,
    response=schema.NEW_ORDER_RESPONSE,
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
    resp_type = schema.resp_type(p)
    placed = await outcomes.order_place_decided(
        user_id=call.user_id,
        symbol=p["symbol"],
        order=_new_order(p),
        verdict=resp_type != "ACK",  # ACK of LIMIT/MARKET: one service call, no wait, no re-read
        fills=resp_type == "FULL",
    )
    return render.new_order(placed, resp_type)


@endpoint(
    "POST",
    security=Security.TRADE,
    weight=1,
    params=schema.NEW_ORDER_PARAMS,
    response=openapi.EMPTY,
    summary="Test new order: every check (filters, funds), nothing created",
    tag="Trade",
)
async def order_test(call: Call) -> dict[str, Any]:
    p = call.params
    await db_call(
        services.order_place,
        user_id=call.user_id,
        symbol=p["symbol"],
        validate_only=True,
        **_new_order(p),
    )
    return {}


# DELETE /api/v3/order, GET /api/v3/order ------------------------------------------------------


@endpoint(
    "DELETE",
    security=Security.TRADE,
    weight=1,
    params=schema.CANCEL_PARAMS,
    response=schema.CANCEL_REPORT,
    summary="Cancel an order",
    description=(
        "Answers once the matcher has applied the cancel (then the order is gone from"
        " openOrders); -1007 if it has not within the bounded wait."
    ),
    tag="Trade",
)
async def order_cancel(call: Call) -> dict[str, Any]:
    p = call.params
    canceled = await outcomes.order_cancel_decided(
        user_id=call.user_id,
        symbol=p["symbol"],
        order_id=p["orderId"],
        client_order_id=p["origClientOrderId"],
    )
    return render.cancel_report(canceled, p["newClientOrderId"] or _client_id())


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=4,
    params=schema.QUERY_PARAMS,
    response=schema.ORDER,
    summary="Query an order (-2013 when unknown)",
    tag="Trade",
)
async def order_get(call: Call) -> dict[str, Any]:
    p = call.params
    return await db_call(
        _order_query, call.user_id, p["symbol"], p["orderId"], p["origClientOrderId"]
    )


# openOrders -----------------------------------------------------------------------------------


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=lambda raw: 6 if raw.get("symbol") else 80,
    weight_doc="6 with symbol, 80 without",
    params=schema.OPEN_ORDERS_PARAMS,
    response=array(schema.ORDER),
    summary="Open orders (all symbols when symbol is omitted), oldest first",
    tag="Trade",
)
async def open_orders_get(call: Call) -> list[dict[str, Any]]:
    return await db_call(_open_orders, call.user_id, call.params["symbol"])


@endpoint(
    "DELETE",
    security=Security.TRADE,
    weight=1,
    params=schema.CANCEL_ALL_PARAMS,
    response=array(schema.CANCEL_REPORT),
    summary="Cancel all open orders of a symbol (-2011 when none is open)",
    tag="Trade",
)
async def open_orders_cancel(call: Call) -> list[dict[str, Any]]:
    canceled = await outcomes.order_cancel_all_decided(
        user_id=call.user_id, symbol=call.params["symbol"]
    )
    return [render.cancel_report(c, _client_id()) for c in canceled]


# allOrders, myTrades --------------------------------------------------------------------------


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=20,
    params=schema.ALL_ORDERS_PARAMS,
    response=array(schema.ORDER),
    summary="All orders of a symbol, ascending orderId (at most 24 h between start and end)",
    tag="Trade",
)
async def all_orders_get(call: Call) -> list[dict[str, Any]]:
    return await db_call(_all_orders, call.user_id, call.params)


@endpoint(
    "GET",
    security=Security.USER_DATA,
    weight=20,
    params=schema.MY_TRADES_PARAMS,
    response=array(schema.ACCOUNT_TRADE),
    summary="The account's trades of a symbol, ascending id (one row per side)",
    tag="Trade",
)
async def my_trades_get(call: Call) -> list[dict[str, Any]]:
    return await db_call(_my_trades, call.user_id, call.params)


# POST /api/v3/order/cancelReplace -------------------------------------------------------------


@endpoint(
    "POST",
    security=Security.TRADE,
    weight=1,
    orders=1,
    params=schema.CANCEL_REPLACE_PARAMS,
    response=schema.CANCEL_REPLACE,
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
    resp_type = schema.resp_type(p)
    new_order = _new_order(p)
    cancel_client_id = p["cancelNewClientOrderId"] or _client_id()
    outcome = await outcomes.order_cancel_replace_decided(
        user_id=call.user_id,
        symbol=p["symbol"],
        cancel_order_id=p["cancelOrderId"],
        cancel_client_order_id=p["cancelOrigClientOrderId"],
        mode=p["cancelReplaceMode"],
        order=new_order,
        fills=resp_type == "FULL",
    )
    return render.cancel_replace(outcome, resp_type=resp_type, cancel_client_id=cancel_client_id)


# PUT /api/v3/order/amend/keepPriority ---------------------------------------------------------


@endpoint(
    "PUT",
    security=Security.TRADE,
    weight=4,
    params=schema.AMEND_PARAMS,
    response=schema.AMEND,
    summary="Reduce an order's quantity keeping its queue priority",
    tag="Trade",
)
async def order_amend_keep_priority(call: Call) -> dict[str, Any]:
    p = call.params
    amended = await outcomes.order_amend_keep_priority_decided(
        user_id=call.user_id,
        symbol=p["symbol"],
        order_id=p["orderId"],
        client_order_id=p["origClientOrderId"],
        new_qty=p["newQty"],
    )
    return render.amended(amended)
