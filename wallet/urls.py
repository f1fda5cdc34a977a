from __future__ import annotations

from django.urls import path

from . import metrics, views

app_name = "wallet"

metrics.register()  # withdrawals in flight, on the web process's /metrics
urlpatterns = [
    path("webhooks/deposits", views.deposit_webhook, name="deposit-webhook"),
]
