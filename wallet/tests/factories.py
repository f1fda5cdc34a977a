"""factory_boy factories for wallet's models (used by the tests of every app; typing as in
accounts/tests/factories.py)."""

from __future__ import annotations

from factory.declarations import Sequence
from factory.django import DjangoModelFactory

from wallet.models import Asset


class AssetFactory(DjangoModelFactory[Asset]):
    class Meta:
        model = Asset
        django_get_or_create = ("code",)

    code = Sequence(lambda n: f"A{n}")  # type: ignore[no-untyped-call]
    precision = 8
