"""Operator pages under /admin/ beside the model admin (included before admin.site.urls)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import metrics, views

app_name = "admin_rbac"

metrics.register()  # the trading-state gauges, on the web process's /metrics

urlpatterns = [
    path("dashboard/", admin.site.admin_view(views.dashboard), name="dashboard"),
    path("killswitch/", admin.site.admin_view(views.kill_switch), name="kill_switch"),
]
