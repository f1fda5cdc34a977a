"""The REST API: the Binance-compatible /api/v3/ layer (exchange_site.binance) and DRF (the UI's
/ui/api/)."""

from __future__ import annotations

from .env import env

# DRF is not used by /api/v3/ (plain async Django views, see exchange_site/binance/); it serves
# the trader UI's /ui/api/, whose views (exchange_site.uiapi.UiApiView) choose session
# authentication with its CSRF check themselves. These defaults keep any other DRF view
# JSON-only and unauthenticated.
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.FormParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Exchange API (Binance Spot v3 compatible subset)",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Threads running the API's blocking work (ORM, sync Redis). Each keeps one PostgreSQL
# connection, so web processes x this must stay below PostgreSQL's max_connections.
API_DB_THREADS: int = env("API_DB_THREADS", 16, cast=int)
# Who authenticates SIGNED requests (exchange_site.binance.auth.KeyAuthenticator), by dotted path.
API_KEY_AUTHENTICATOR = "accounts.apikeys.ApiKeyAuthenticator"
# Seconds an API key (and its decrypted secret) stays cached in a web process: disabling a key,
# changing its permissions or IP allow-list takes effect within this time.
API_KEY_CACHE_TTL: float = env("API_KEY_CACHE_TTL", 5.0, cast=float)
# Seconds an order request waits for the matcher's verdict before answering with the accepted
# state (status NEW); cancels answer -1007 (status unknown) after this wait.
API_VERDICT_TIMEOUT: float = env("API_VERDICT_TIMEOUT", 2.0, cast=float)
# Fee rates reported by GET /api/v3/account (fractions; 0.001 = 0.1 % = 10 in Binance's
# basis-point fields). Markets carry their own rates; these are the platform defaults.
API_ACCOUNT_MAKER_FEE: str = env("API_ACCOUNT_MAKER_FEE", "0.001")
API_ACCOUNT_TAKER_FEE: str = env("API_ACCOUNT_TAKER_FEE", "0.001")
