from __future__ import annotations

import pytest

from exchange_site.binance.testing import (  # noqa: F401 - fixtures
    _api_key_cache_isolated,
    api,
    make_market,
    signed_api,
    trader,
)
from orders.models import Market


@pytest.fixture
def market(transactional_db: None) -> Market:
    return make_market()
