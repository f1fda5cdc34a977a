from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from exchange_site.health import healthz, readyz
from exchange_site.metrics import metrics_view

urlpatterns = [
    path("admin/", include("admin_rbac.urls")),  # dashboard, kill switch
    path("admin/", admin.site.urls),
    # /api/: each app's Binance endpoints (exact /api/v3/ paths), then the schema, the docs and
    # a JSON -1020 for anything else under /api/, which must stay the last "api/" include.
    path("api/", include("marketdata.api_urls")),
    path("api/", include("orders.api_urls")),
    path("api/", include("accounts.api_urls")),
    path("api/", include("userdata.api_urls")),
    path("api/", include("exchange_site.api_urls")),
    path("sapi/", include("wallet.api_urls")),
    path("wallet/", include("wallet.urls")),
    path("accounts/", include("accounts.urls")),
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # The trader UI: pages and its session-authenticated JSON API under /ui/api/.
    path("", include("orders.ui_urls")),
    path("", include("wallet.ui_urls")),
    path("", include("accounts.ui_urls")),
]
