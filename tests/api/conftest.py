from tests.api_client import (  # noqa: F401 - fixtures
    _api_key_cache_isolated,
    api,
    signed_api,
    trader,
)
