"""Trades for market-data tests: a Trade needs its two Order rows."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from accounts.models import User
from orders.models import Market, Order, Trade
from tests.api_client import make_user

_seq = itertools.count(1)


def _order(market: Market, user: User, side: str, price: Decimal, qty: Decimal) -> Order:
    return Order.objects.create(
        user=user,
        market=market,
        client_order_id=f"t{next(_seq)}",
        side=side,
        type="LIMIT",
        time_in_force="GTC",
        price=price,
        quantity=qty,
        status="FILLED",
        executed_qty=qty,
        cumulative_quote_qty=price * qty,
    )


def trade_make(
    market: Market,
    *,
    price: str,
    qty: str,
    at: datetime,
    is_buyer_maker: bool = True,
    buyer: User | None = None,
    seller: User | None = None,
    buyer_fee: str = "0",
    seller_fee: str = "0",
) -> Trade:
    p, q = Decimal(price), Decimal(qty)
    buyer = buyer or make_user()
    seller = seller or make_user()
    buy = _order(market, buyer, "BUY", p, q)
    sell = _order(market, seller, "SELL", p, q)
    maker, taker = (buy, sell) if is_buyer_maker else (sell, buy)
    trade: Trade = Trade.objects.create(
        market=market,
        seq=next(_seq),
        maker_order=maker,
        taker_order=taker,
        buyer=buyer,
        seller=seller,
        price=p,
        qty=q,
        quote_qty=p * q,
        is_buyer_maker=is_buyer_maker,
        buyer_fee=Decimal(buyer_fee),
        seller_fee=Decimal(seller_fee),
        created_at=at,
    )
    return trade
