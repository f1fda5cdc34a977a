"""The home page and the account part of the UI's JSON API (/ui/api/)."""

from __future__ import annotations

from django.urls import path

from . import ui_apis, views

urlpatterns = [
    path("", views.home, name="home"),
    path("ui/api/balances", ui_apis.BalancesApi.as_view(), name="ui-balances"),
    path("ui/api/apikeys", ui_apis.ApiKeysApi.as_view(), name="ui-apikeys"),
    path("ui/api/apikeys/<int:key_id>", ui_apis.ApiKeyApi.as_view(), name="ui-apikey"),
]
