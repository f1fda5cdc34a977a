"""/api/v3/ routes of the listen-key endpoints; exchange_site/urls.py includes them under
"api/"."""

from __future__ import annotations

from django.urls import path

from exchange_site.binance.endpoint import route

from . import apis

urlpatterns = [
    path("v3/userDataStream", route(apis.stream_start, apis.stream_keepalive, apis.stream_close)),
]
