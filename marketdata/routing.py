"""Binance-style market streams (/ws, /stream) and the UI socket; filled by the market-data work."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
