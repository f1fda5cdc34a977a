"""The trading page and the order part of the UI's JSON API (/ui/api/markets/<symbol>/...)."""

from __future__ import annotations

from django.urls import path

from . import ui_apis, views

M = "ui/api/markets/<str:symbol>/"
urlpatterns = [
    path("trade/<str:symbol>/", views.trade, name="trade"),
    path(M + "orders", ui_apis.OrdersApi.as_view(), name="ui-orders"),
    path(M + "orders/<int:order_id>", ui_apis.OrderApi.as_view(), name="ui-order"),
    path(M + "history", ui_apis.OrderHistoryApi.as_view(), name="ui-order-history"),
    path(M + "trades", ui_apis.MyTradesApi.as_view(), name="ui-my-trades"),
]
