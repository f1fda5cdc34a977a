"""The process's hub: one per event loop (daphne runs one loop per process)."""

from __future__ import annotations

import asyncio

from django.conf import settings

from .hub import Hub
from .streams import register_market_streams

_hubs: dict[int, Hub] = {}


def get_hub() -> Hub:
    """The running loop's hub, built on first use with the market streams registered."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None:
        hub = Hub(settings.REDIS_URL, queue_limit=settings.WS_QUEUE_LIMIT)
        register_market_streams(hub)
        _hubs.clear()  # one loop per process outside tests; tests drop old loops
        _hubs[id(loop)] = hub
    return hub
