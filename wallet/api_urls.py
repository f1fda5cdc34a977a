"""URL conf of /sapi/v1/: the Binance wallet endpoints (contract section 10), exact paths,
and a JSON -1020 for anything else under /sapi/."""

from __future__ import annotations

from django.urls import path, re_path

from exchange_site.binance.endpoint import route
from exchange_site.binance.views import not_found

from . import apis

urlpatterns = [
    path("v1/capital/config/getall", route(apis.config_getall)),
    path("v1/capital/deposit/address", route(apis.deposit_address)),
    path("v1/capital/deposit/hisrec", route(apis.deposit_history)),
    path("v1/capital/withdraw/apply", route(apis.withdraw_apply)),
    path("v1/capital/withdraw/history", route(apis.withdraw_history)),
    re_path(r"", not_found),
]
