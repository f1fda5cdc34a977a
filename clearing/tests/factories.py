from __future__ import annotations

from decimal import Decimal

import factory

from accounts.models import User
from orders.models import Market
from wallet.models import Asset


class UserFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"trader{n}")


class AssetFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    class Meta:
        model = Asset
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"A{n}")
    precision = 8


class MarketFactory(factory.django.DjangoModelFactory):  # type: ignore[misc]
    class Meta:
        model = Market
        django_get_or_create = ("symbol",)

    base = factory.SubFactory(AssetFactory, code="BTC")
    quote = factory.SubFactory(AssetFactory, code="USDT")
    symbol = factory.LazyAttribute(lambda m: f"{m.base.code}{m.quote.code}")
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
