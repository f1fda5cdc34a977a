from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

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
    path("", include("django_prometheus.urls")),
    path("", include("accounts.ui_urls")),
]
