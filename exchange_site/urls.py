from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("exchange_site.api_urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("django_prometheus.urls")),
    path("", include("accounts.ui_urls")),
]
