from __future__ import annotations

from django.urls import path

from . import views

app_name = "wallet"
urlpatterns = [
    path("webhooks/deposits", views.deposit_webhook, name="deposit-webhook"),
]
