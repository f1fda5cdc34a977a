"""Declarations of the order endpoints: parameters (validation and OpenAPI parameters) and the
OpenAPI response schemas (components). Syntax only: business validation is the services' job."""

from __future__ import annotations

from typing import Any

from exchange_site.binance import openapi
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
from orders.models import Order

ORDER_TYPES = tuple(t.value for t in Order.Type)
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
LIMIT_TIF_TYPES = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")  # need timeInForce
PRICED_TYPES = (*LIMIT_TIF_TYPES, "LIMIT_MAKER")  # need price
MARKET_TYPES = ("MARKET", "STOP_LOSS", "TAKE_PROFIT")  # take no price
NOT_MARKET = tuple(t for t in ORDER_TYPES if t != "MARKET")
RESP_TYPES = ("ACK", "RESULT", "FULL")
STP_MODES = tuple(s.value for s in Order.STP)


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

ORDER_ID = Param("orderId", Kind.INT)
ORIG_CLIENT_ORDER_ID = Param("origClientOrderId", Kind.STR, pattern=CLIENT_ORDER_ID_PATTERN)
WHICH_ORDER = OneOf(("orderId", "origClientOrderId"))
CANCEL_RESTRICTIONS = Param("cancelRestrictions", Kind.STR, unsupported=True)


def resp_type(p: dict[str, Any]) -> str:
    """newOrderRespType as sent, else its default for the order type."""
    if p["newOrderRespType"]:
        return str(p["newOrderRespType"])
    return "FULL" if p["type"] in ("LIMIT", "MARKET") else "ACK"


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
CANCEL_PARAMS = spec(
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
)
QUERY_PARAMS = spec(SYMBOL, ORDER_ID, ORIG_CLIENT_ORDER_ID, rules=(WHICH_ORDER,))
OPEN_ORDERS_PARAMS = spec(SYMBOL_OPTIONAL)
CANCEL_ALL_PARAMS = spec(SYMBOL)
ALL_ORDERS_PARAMS = spec(
    SYMBOL,
    Param("orderId", Kind.INT, description="Orders with an id >= this one."),
    START_TIME,
    END_TIME,
    limit(500, 1000),
)
MY_TRADES_PARAMS = spec(
    SYMBOL,
    Param("orderId", Kind.INT, description="Only the trades of this order."),
    START_TIME,
    END_TIME,
    Param("fromId", Kind.INT, description="Trades with an id >= this one."),
    limit(500, 1000),
)
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
AMEND_PARAMS = spec(
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
)


# Response schemas ---------------------------------------------------------------------------

STATUS = openapi.enum(
    "NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH"
)
# An order's status and kind, in the four places that show them (one run in Binance's shapes).
STATE_FIELDS: dict[str, openapi.Schema] = {
    "status": STATUS,
    "timeInForce": openapi.enum("GTC", "IOC", "FOK"),
    "type": openapi.enum(*ORDER_TYPES),
    "side": openapi.enum("BUY", "SELL"),
}
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
    **STATE_FIELDS,
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
            **STATE_FIELDS,
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
            **STATE_FIELDS,
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
        **STATE_FIELDS,
        "workingTime": INT,
        "selfTradePreventionMode": openapi.enum(*STP_MODES),
    }
)
AMEND = component(
    "AmendKeepPriority", obj({"transactTime": TIME_MS, "amendedOrder": AMENDED_ORDER})
)
