"""The trader UI's order endpoints (/ui/api/markets/<symbol>/...): session-authenticated DRF views
over the services the Binance API calls (orders.outcomes for commands: accept, wait for the
matcher's verdict, re-read; orders.selectors for reads). Rows in the Binance shapes
(orders.apis.render), so the page reads the REST answers and the user socket's events alike.
"""

from __future__ import annotations

import secrets
from typing import Any

from asgiref.sync import async_to_sync

from exchange_site.errors import DomainError
from exchange_site.uiapi import Request, Response, UiApiView, decimal_field, field
from orders import outcomes, selectors
from orders.apis import render
from orders.models import Order
from orders.outcomes import NewOrder

HISTORY_LIMIT = 50
# The order types the trading page offers; the API takes every Binance type.
UI_TYPES = ("LIMIT", "MARKET", "STOP_LOSS_LIMIT", "LIMIT_MAKER")


def _new_order(data: Any) -> NewOrder:
    side = field(data, "side")
    type_ = field(data, "type")
    if side not in ("BUY", "SELL"):
        raise DomainError("Side must be BUY or SELL.", code=-1100)
    if type_ not in UI_TYPES:
        raise DomainError(f"Order type must be one of {', '.join(UI_TYPES)}.", code=-1100)
    limit_priced = type_ in ("LIMIT", "STOP_LOSS_LIMIT")
    return {
        "side": side,
        "type": type_,
        "time_in_force": (field(data, "timeInForce", required=False) or "GTC")
        if limit_priced
        else None,
        "quantity": decimal_field(data, "quantity", required=False),
        "quote_order_qty": decimal_field(data, "quoteOrderQty", required=False),
        "price": decimal_field(data, "price", required=False),
        "stop_price": decimal_field(data, "stopPrice", required=False),
        "client_order_id": "ui-" + secrets.token_urlsafe(12)[:16],
        "stp_mode": "NONE",
    }


class OrdersApi(UiApiView):
    """GET: the user's open orders in the market. POST: a new order (the matcher's verdict).
    DELETE: cancel all the user's open orders in the market."""

    def get(self, request: Request, symbol: str) -> Response:
        market = selectors.market_get(symbol=symbol)
        rows = selectors.order_list_open(user_id=self.user_id, market=market)
        return Response([render.query(o, market) for o in rows])

    def post(self, request: Request, symbol: str) -> Response:
        placed = async_to_sync(outcomes.order_place_decided)(
            user_id=self.user_id,
            symbol=symbol,
            order=_new_order(request.data),
            verdict=True,
            fills=True,
        )
        return Response(render.new_order(placed, "FULL"), status=201)

    def delete(self, request: Request, symbol: str) -> Response:
        canceled = async_to_sync(outcomes.order_cancel_all_decided)(
            user_id=self.user_id, symbol=symbol
        )
        return Response([render.query(c.order, c.market) for c in canceled])


class OrderApi(UiApiView):
    """DELETE: cancel one order (answers once the matcher applied the cancel)."""

    def delete(self, request: Request, symbol: str, order_id: int) -> Response:
        canceled = async_to_sync(outcomes.order_cancel_decided)(
            user_id=self.user_id, symbol=symbol, order_id=order_id, client_order_id=None
        )
        return Response(render.query(canceled.order, canceled.market))


class OrderHistoryApi(UiApiView):
    """GET: the user's most recent orders in the market (refused ones left out), newest first."""

    def get(self, request: Request, symbol: str) -> Response:
        market = selectors.market_get(symbol=symbol)
        rows = selectors.order_list_all(user_id=self.user_id, market=market, limit=HISTORY_LIMIT)
        visible = [o for o in rows if o.status != Order.Status.REJECTED]
        return Response([render.query(o, market) for o in reversed(visible)])


class MyTradesApi(UiApiView):
    """GET: the user's most recent trades in the market (one row per side), newest first."""

    def get(self, request: Request, symbol: str) -> Response:
        market = selectors.market_get(symbol=symbol)
        sides = selectors.trade_side_list_for_user(
            user_id=self.user_id, market=market, limit=HISTORY_LIMIT
        )
        return Response([render.account_trade(s, market) for s in reversed(sides)])
