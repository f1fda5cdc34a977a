"""Settings shared by every environment. Values come from env(); concerns live in siblings."""

from __future__ import annotations

import contextlib

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import BASE_DIR, env

ENVIRONMENT = env("ENVIRONMENT", "development")
DEBUG = env("DEBUG", False, cast=bool)
if DEBUG and ENVIRONMENT == "production":
    raise ImproperlyConfigured("DEBUG must be off when ENVIRONMENT=production")

SECRET_KEY = env("SECRET_KEY")
# Fernet key (urlsafe base64, 32 bytes) encrypting API secrets at rest.
API_KEY_ENCRYPTION_KEY = env("API_KEY_ENCRYPTION_KEY")
ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "accounts",
    "wallet",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "clearing",
    "orders",
    "matching",
    "admin_rbac",
    "marketdata",
    "userdata",
]

MIDDLEWARE = [
    # First: every later middleware sees the client's address (TRUSTED_PROXIES).
    "exchange_site.clientip.trusted_proxy_middleware",
    "exchange_site.logctx.request_id_middleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last of the request middleware (django-axes' rule): answers a locked-out login.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "exchange_site.urls"
ASGI_APPLICATION = "exchange_site.asgi.application"
# The Binance contract forbids redirects on API paths; no view relies on slash appending.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
# PostgreSQL's JIT compiles plans of costly-looking statements (the matcher's and settlement's
# set-based ones) on every execution: milliseconds each, for nothing at these row counts.
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# daphne serves no static files: WhiteNoise does, straight from the apps' static folders (no
# collectstatic step for a dev run; the container image collects them at build time).
WHITENOISE_USE_FINDERS = True
# WhiteNoise warns (an error under the tests' filterwarnings) when STATIC_ROOT is missing.
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(exist_ok=True)

# Per-user risk limit: open orders per market (the MAX_NUM_ORDERS filter).
MAX_OPEN_ORDERS_PER_MARKET = env("MAX_OPEN_ORDERS_PER_MARKET", 200, cast=int)
# Group commit of the API's order acceptances (docs/order-path.md): at most this many orders
# per transaction, under PostgreSQL's 64 cached subtransactions; 0 accepts each order alone.
ORDER_ACCEPT_GROUP_MAX = env("ORDER_ACCEPT_GROUP_MAX", 32, cast=int)

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
PORT = env("PORT", 8000, cast=int)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
    }
}

from .backoffice import *  # noqa: E402, F403
from .celery import *  # noqa: E402, F403
from .channels import *  # noqa: E402, F403
from .logging import *  # noqa: E402, F403
from .ratelimits import *  # noqa: E402, F403
from .rest import *  # noqa: E402, F403
from .security import *  # noqa: E402, F403
from .wallet import *  # noqa: E402, F403
