"""Factories for orders' models (used by the tests of every app; typing as in
accounts/tests/factories.py): markets, and trades with the two Order rows a Trade needs."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal

from factory.declarations import LazyAttribute, SubFactory
from factory.django import DjangoModelFactory

from accounts.models import User
from accounts.tests.factories import UserFactory
from orders.models import Market, Order, Trade
from wallet.tests.factories import AssetFactory


class MarketFactory(DjangoModelFactory[Market]):
    class Meta:
        model = Market
        django_get_or_create = ("symbol",)

    base = SubFactory(AssetFactory, code="BTC")  # type: ignore[no-untyped-call]
    quote = SubFactory(AssetFactory, code="USDT")  # type: ignore[no-untyped-call]
    symbol = LazyAttribute(lambda m: f"{m.base.code}{m.quote.code}")  # type: ignore[no-untyped-call]
    tick_size = Decimal("0.01")
    step_size = Decimal("0.00001")
    min_price = Decimal("0.01")
    max_price = Decimal("1000000")
    min_qty = Decimal("0.00001")
    max_qty = Decimal("9000")
    min_notional = Decimal("5")
    max_notional = Decimal("9000000")
    maker_fee = Decimal("0.001")
    taker_fee = Decimal("0.001")


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
    """A filled trade between two FILLED orders (rows only: no ledger postings)."""
    p, q = Decimal(price), Decimal(qty)
    buyer = buyer or UserFactory.create()
    seller = seller or UserFactory.create()
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
