"""Prometheus metrics of the live streams (served by the web process's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("exchange_ws_connections", "Open WebSocket connections (market streams)")
SUBSCRIPTIONS = Gauge("exchange_ws_subscriptions", "Stream subscriptions held by connections")
REDIS_CHANNELS = Gauge(
    "exchange_ws_redis_channels", "Redis pub/sub channels this process listens to"
)
FRAMES_OUT = Counter("exchange_ws_messages_out_total", "Frames handed to WebSocket connections")
DROPPED = Counter(
    "exchange_ws_dropped_slow_total", "Connections closed because their outbox was full"
)
GAPS = Counter(
    "exchange_ws_resyncs_total", "Streams whose subscribers were closed on an upstream gap"
)
REJECTED = Counter("exchange_ws_rejected_total", "Client messages answered with an error", ["why"])
COMMIT_TO_SEND = Histogram(
    "exchange_ws_commit_to_send_seconds",
    "From the publisher's commit to the frame leaving the hub for a connection",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
