from __future__ import annotations

import pytest

from orders.models import Market
from tests.api_client import (  # noqa: F401 - fixtures
    _api_key_cache_isolated,
    api,
    make_market,
    signed_api,
    trader,
)


@pytest.fixture
def market(transactional_db: None) -> Market:
    return make_market()
