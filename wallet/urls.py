from __future__ import annotations

from django.urls import path

from . import views

app_name = "wallet"
urlpatterns = [
    path("", views.wallet_page, name="page"),
    path("webhooks/deposits", views.deposit_webhook, name="deposit-webhook"),
]
