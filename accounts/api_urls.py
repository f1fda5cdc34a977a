"""/api/v3/ routes of the account endpoints (SIGNED); exchange_site/urls.py
includes them under "api/"."""

from __future__ import annotations

from django.urls import path

from exchange_site.binance.endpoint import route

from . import apis as account_apis

urlpatterns = [
    path("v3/account", route(account_apis.account)),
]
