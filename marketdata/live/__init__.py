"""Live data over WebSocket: the per-process fan-out hub (see hub.py) and the market streams."""

from __future__ import annotations

from .hub import (
    CLOSE_POLICY,
    CLOSE_SLOW,
    Frame,
    Hub,
    RawFeed,
    StreamSpec,
    Subscriber,
    UnknownStream,
)
from .process import get_hub

__all__ = [
    "CLOSE_POLICY",
    "CLOSE_SLOW",
    "Frame",
    "Hub",
    "RawFeed",
    "StreamSpec",
    "Subscriber",
    "UnknownStream",
    "get_hub",
]
