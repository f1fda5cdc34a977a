"""factory_boy factories for the tests of every app.

Build objects with `XFactory.create(...)`, typed as returning the model; calling the class
(`XFactory(...)`) does the same but is typed as returning the factory. factory_boy leaves its
declarations (Sequence, SubFactory, LazyAttribute) unannotated, hence their ignores.
"""

from __future__ import annotations

from decimal import Decimal

from factory.declarations import LazyAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory

from accounts.models import User
from orders.models import Market
from wallet.models import Asset


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    username = Sequence(lambda n: f"trader{n}")  # type: ignore[no-untyped-call]


class AssetFactory(DjangoModelFactory[Asset]):
    class Meta:
        model = Asset
        django_get_or_create = ("code",)

    code = Sequence(lambda n: f"A{n}")  # type: ignore[no-untyped-call]
    precision = 8


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
