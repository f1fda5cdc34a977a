"""factory_boy factories for accounts' models (used by the tests of every app).

Build objects with `XFactory.create(...)`, typed as returning the model; calling the class
(`XFactory(...)`) does the same but is typed as returning the factory. factory_boy leaves its
declarations (Sequence, SubFactory, LazyAttribute) unannotated, hence their ignores.
"""

from __future__ import annotations

from factory.declarations import Sequence
from factory.django import DjangoModelFactory

from accounts.models import User


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    username = Sequence(lambda n: f"trader{n}")  # type: ignore[no-untyped-call]
