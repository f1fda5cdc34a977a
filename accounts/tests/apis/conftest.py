from exchange_site.binance.testing import (  # noqa: F401 - fixtures
    _api_key_cache_isolated,
    api,
    signed_api,
    trader,
)
