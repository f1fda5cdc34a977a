"""Binance shapes of orders, fills, account trades and the order services' outcomes
(orders.outcomes). Pure functions of rows and the market (assets loaded) they are shown in: no
query, so they run anywhere (outcomes on the event loop, lists where they are read)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from exchange_site.binance.render import Amounts
from exchange_site.binance.times import now_ms, to_ms
from exchange_site.errors import DomainError
from exchange_site.money import fmt
from orders import selectors
from orders.models import OPEN_STATUSES, Market, Order, Trade
from orders.outcomes import Attempt, CancelReplaced, Current, Placed

from .schema import STOP_TYPES

V = TypeVar("V")


def amounts(market: Market) -> Amounts:
    return Amounts(market.base.precision, market.quote.precision)


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


def error(exc: DomainError) -> dict[str, Any]:
    return {"code": exc.code, "msg": exc.msg}


# New orders ---------------------------------------------------------------------------------


def ack(order: Order, symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "orderId": order.pk,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": to_ms(order.created_at),
    }


def result(order: Order, market: Market, *, accepted_only: bool = False) -> dict[str, Any]:
    """RESULT form; `accepted_only`: the state at acceptance (no verdict in time)."""
    a = amounts(market)
    body = ack(order, market.symbol)
    body.update(
        {
            "price": a.price(order.price),
            "origQty": a.qty(_orig_qty(order)),
            "executedQty": a.qty(Decimal(0) if accepted_only else order.executed_qty),
            "origQuoteOrderQty": a.quote(order.quote_order_qty),
            "cummulativeQuoteQty": a.quote(
                Decimal(0) if accepted_only else order.cumulative_quote_qty
            ),
            "status": "NEW" if accepted_only else selectors.order_status_public(order),
            "timeInForce": order.time_in_force or "GTC",
            "type": order.type,
            "side": order.side,
            "workingTime": _working_time(order),
            "selfTradePreventionMode": order.stp_mode,
        }
    )
    if order.type in STOP_TYPES:
        body["stopPrice"] = a.price(order.stop_price)
    return body


def fill(order: Order, market: Market, trade: Trade) -> dict[str, Any]:
    # Fees are charged in the asset received: the buyer's in base, the seller's in quote.
    if order.side == "BUY":
        fee, asset = trade.buyer_fee, market.base
    else:
        fee, asset = trade.seller_fee, market.quote
    a = amounts(market)
    return {
        "price": a.price(trade.price),
        "qty": a.qty(trade.qty),
        "commission": fmt(fee, asset.precision),
        "commissionAsset": asset.code,
        "tradeId": trade.pk,
    }


def new_order(placed: Placed, resp_type: str) -> dict[str, Any]:
    """The answer to a new order in the requested form (ACK, RESULT or FULL)."""
    order, market = placed.order, placed.market
    if resp_type == "ACK":
        return ack(order, market.symbol)
    body = result(order, market, accepted_only=not placed.decided)
    if resp_type == "FULL":
        body["fills"] = [fill(order, market, t) for t in placed.fills]
    return body


# Queries, cancels, amends -------------------------------------------------------------------


def query(order: Order, market: Market) -> dict[str, Any]:
    a = amounts(market)
    return {
        "symbol": market.symbol,
        "orderId": order.pk,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": a.price(order.price),
        "origQty": a.qty(_orig_qty(order)),
        "executedQty": a.qty(order.executed_qty),
        "cummulativeQuoteQty": a.quote(order.cumulative_quote_qty),
        "status": selectors.order_status_public(order),
        "timeInForce": order.time_in_force or "GTC",
        "type": order.type,
        "side": order.side,
        "stopPrice": a.price(order.stop_price),
        "icebergQty": a.qty(Decimal(0)),
        "time": to_ms(order.created_at),
        "updateTime": to_ms(order.updated_at),
        "isWorking": order.is_working,
        "workingTime": _working_time(order),
        "origQuoteOrderQty": a.quote(order.quote_order_qty),
        "selfTradePreventionMode": order.stp_mode,
    }


def cancel_report(canceled: Current, cancel_client_id: str) -> dict[str, Any]:
    order, market = canceled.order, canceled.market
    a = amounts(market)
    report = {
        "symbol": market.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.pk,
        "orderListId": -1,
        "clientOrderId": cancel_client_id,
        "transactTime": to_ms(order.done_at or order.updated_at),
        "price": a.price(order.price),
        "origQty": a.qty(_orig_qty(order)),
        "executedQty": a.qty(order.executed_qty),
        "origQuoteOrderQty": a.quote(order.quote_order_qty),
        "cummulativeQuoteQty": a.quote(order.cumulative_quote_qty),
        "status": selectors.order_status_public(order),
        "timeInForce": order.time_in_force or "GTC",
        "type": order.type,
        "side": order.side,
        "selfTradePreventionMode": order.stp_mode,
    }
    if order.type in STOP_TYPES:
        report["stopPrice"] = a.price(order.stop_price)
    return report


def amended(current: Current) -> dict[str, Any]:
    order, market = current.order, current.market
    a = amounts(market)
    return {
        "transactTime": now_ms(),
        "amendedOrder": {
            "symbol": market.symbol,
            "orderId": order.pk,
            "orderListId": -1,
            "origClientOrderId": order.client_order_id,
            "clientOrderId": order.client_order_id,
            "price": a.price(order.price),
            "qty": a.qty(order.quantity),
            "executedQty": a.qty(order.executed_qty),
            "preventedQty": a.qty(Decimal(0)),
            "quoteOrderQty": a.quote(order.quote_order_qty),
            "cumulativeQuoteQty": a.quote(order.cumulative_quote_qty),
            "status": selectors.order_status_public(order),
            "timeInForce": order.time_in_force or "GTC",
            "type": order.type,
            "side": order.side,
            "workingTime": _working_time(order),
            "selfTradePreventionMode": order.stp_mode,
        },
    }


def account_trade(side: selectors.TradeSide, market: Market) -> dict[str, Any]:
    t, a = side.trade, amounts(market)
    return {
        "symbol": market.symbol,
        "id": t.pk,
        "orderId": side.order_id,
        "orderListId": -1,
        "price": a.price(t.price),
        "qty": a.qty(t.qty),
        "quoteQty": a.quote(t.quote_qty),
        "commission": fmt(side.fee, side.fee_asset.precision),
        "commissionAsset": side.fee_asset.code,
        "time": to_ms(t.created_at),
        "isBuyer": side.is_buyer,
        "isMaker": side.is_maker,
        "isBestMatch": True,
    }


# cancelReplace ------------------------------------------------------------------------------


class CancelReplaceFailed(DomainError):
    """-2021 (one side failed, HTTP 409) / -2022 (nothing done, HTTP 400), with Binance's
    `data` object describing each side."""

    def __init__(self, *, code: int, data: dict[str, Any]) -> None:
        msg = (
            "Order cancel-replace partially failed."
            if code == -2021
            else "Order cancel-replace failed."
        )
        super().__init__(msg, code=code, http_status=409 if code == -2021 else 400)
        self.data = data


def _side(attempt: Attempt[V], render: Callable[[V], dict[str, Any]]) -> dict[str, Any] | None:
    if attempt.value is not None:
        return render(attempt.value)
    return error(attempt.error) if attempt.error is not None else None


def cancel_replace(
    outcome: CancelReplaced, *, resp_type: str, cancel_client_id: str
) -> dict[str, Any]:
    """Both sides succeeded: the answer; else raises CancelReplaceFailed with the same object."""
    cancel, new = outcome.cancel, outcome.new_order
    body = {
        "cancelResult": cancel.result,
        "newOrderResult": new.result,
        "cancelResponse": _side(cancel, lambda c: cancel_report(c, cancel_client_id)),
        "newOrderResponse": _side(new, lambda p: new_order(p, resp_type)),
    }
    if cancel.value is not None and new.value is not None:
        return body
    one_done = cancel.value is not None or new.value is not None
    raise CancelReplaceFailed(code=-2021 if one_done else -2022, data=body)
