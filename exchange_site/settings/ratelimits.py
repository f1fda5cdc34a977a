"""Binance-style request limits of the REST API (/api/v3/), counted in Redis.

Request weight is counted per fixed one-minute window, per API key and per client IP; new orders
per ten-second window per API key. Limits depend on the key's tier (ApiKey.tier); unauthenticated
requests are limited by IP only. Every number can be overridden from the environment.
"""

from __future__ import annotations

from .env import env

# Weight per minute for requests without an API key (public market data), per client IP.
API_RATE_LIMIT_IP_WEIGHT_1M: int = env("API_RATE_LIMIT_IP_WEIGHT_1M", 6000, cast=int)

# Per tier: request weight per minute and new orders per 10 s, per API key. `None` = no limit
# (the tier is still counted, so the X-MBX-USED-WEIGHT-1M header stays meaningful).
API_RATE_LIMITS: dict[str, dict[str, int | None]] = {
    "default": {
        "weight_1m": env("API_RATE_LIMIT_DEFAULT_WEIGHT_1M", 6000, cast=int),
        "orders_10s": env("API_RATE_LIMIT_DEFAULT_ORDERS_10S", 100, cast=int),
    },
    "pro": {
        "weight_1m": env("API_RATE_LIMIT_PRO_WEIGHT_1M", 60000, cast=int),
        "orders_10s": env("API_RATE_LIMIT_PRO_ORDERS_10S", 2000, cast=int),
    },
    "unlimited": {"weight_1m": None, "orders_10s": None},
}

# Request size caps of the API, checked before anything is parsed (-1101): the body in bytes
# (HTTP 413) and the number of name=value fields in the query string and body together.
API_MAX_BODY_BYTES: int = env("API_MAX_BODY_BYTES", 65536, cast=int)
API_MAX_PARAMS: int = env("API_MAX_PARAMS", 100, cast=int)
