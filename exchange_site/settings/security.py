"""HTTPS, cookies, proxies, login throttling and who may read /metrics.

With ENVIRONMENT=production the secure defaults are on (`manage.py check --deploy` is clean, a
test holds it there): cookies only over HTTPS, HSTS, HTTP redirected to HTTPS. The exchange runs
behind a TLS-terminating proxy: list it in TRUSTED_PROXIES and its X-Forwarded-For and
X-Forwarded-Proto are believed (exchange_site.clientip); from any other peer they are dropped.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from .env import env

_production = env("ENVIRONMENT", "development") == "production"

# CIDR list of the reverse proxies in front of daphne (e.g. "127.0.0.1/32,10.0.0.0/8").
TRUSTED_PROXIES: list[str] = [p.strip() for p in env("TRUSTED_PROXIES", "").split(",") if p.strip()]
try:
    from exchange_site.clientip import networks_parse

    networks_parse(TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc

if TRUSTED_PROXIES:
    # Only a trusted proxy's header survives (exchange_site.clientip.meta_apply drops it from
    # anyone else), so a client cannot claim HTTPS itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT", _production, cast=bool)
# Probes and scrapers call the process directly over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env("SESSION_COOKIE_SECURE", _production, cast=bool)
CSRF_COOKIE_SECURE = env("CSRF_COOKIE_SECURE", _production, cast=bool)
SECURE_HSTS_SECONDS = env("SECURE_HSTS_SECONDS", 31_536_000 if _production else 0, cast=int)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env("SECURE_HSTS_INCLUDE_SUBDOMAINS", _production, cast=bool)
SECURE_HSTS_PRELOAD = env("SECURE_HSTS_PRELOAD", _production, cast=bool)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# /metrics: a bearer token (Prometheus `authorization: credentials`), or a peer in the
# allow-list (after the trusted-proxy resolution). Neither matches: 404, as if absent.
METRICS_TOKEN: str = env("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS: list[str] = [
    p.strip() for p in env("METRICS_ALLOWED_IPS", "127.0.0.1/32,::1/128").split(",") if p.strip()
]
# Address the matcher's and the worker's own metrics endpoints bind (not every address).
METRICS_HOST: str = env("METRICS_HOST", "127.0.0.1")

# Login throttling (django-axes) for the trader UI login and the admin: after
# LOGIN_FAILURE_LIMIT failures for one username from one address, that pair is locked out for
# LOGIN_LOCKOUT_MINUTES (a success before the limit resets the count).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env("LOGIN_FAILURE_LIMIT", 5, cast=int)
AXES_COOLOFF_TIME = timedelta(minutes=env("LOGIN_LOCKOUT_MINUTES", 15, cast=int))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "exchange_site.clientip.request_client_ip"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
