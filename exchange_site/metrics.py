"""Prometheus endpoints of our own processes.

- `metrics_view`: the web process's /metrics (django-prometheus's export), readable only with
  METRICS_TOKEN as a bearer token or from an address in METRICS_ALLOWED_IPS; anyone else gets a
  404, as if there were no such page.
- API traffic: the lean /api/v3/ and /sapi/ front bypasses Django's middleware (and with it
  django-prometheus), so it counts its requests here, by route and status.
- `serve_multiprocess`: an HTTP endpoint merging the per-process files of prometheus_client's
  multiprocess mode (the Celery worker's task processes each write their own).
"""

from __future__ import annotations

import hmac
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from .clientip import address_in, address_parse, networks_parse

API_REQUESTS = Counter(
    "exchange_api_requests_total",
    "Binance API requests (/api/v3/, /sapi/) by route, method and HTTP status",
    ["endpoint", "method", "status"],
)
API_LATENCY = Histogram(
    "exchange_api_request_duration_seconds",
    "Binance API request time in the web process, by route",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


WEBSOCKETS_OPEN = Gauge(
    "exchange_websocket_connections_open", "WebSocket connections open on this web process"
)
WEBSOCKETS_TOTAL = Counter("exchange_websocket_connections_total", "WebSocket connections accepted")


def websocket_counted(inner: Any) -> Any:
    """ASGI wrapper: a WebSocket connection lives as long as the app call that serves it."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        WEBSOCKETS_TOTAL.inc()
        WEBSOCKETS_OPEN.inc()
        try:
            await inner(scope, receive, send)
        finally:
            WEBSOCKETS_OPEN.dec()

    return app


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    auth = request.headers.get("Authorization", "")
    if token and auth.startswith("Bearer "):
        return hmac.compare_digest(auth[7:].strip().encode(), token.encode())
    addr = address_parse(str(request.META.get("REMOTE_ADDR") or ""))
    return addr is not None and address_in(addr, networks_parse(settings.METRICS_ALLOWED_IPS))


def metrics_view(request: HttpRequest) -> HttpResponse:
    from django_prometheus.exports import ExportToDjangoView

    if not _allowed(request):
        raise Http404
    response: HttpResponse = ExportToDjangoView(request)
    return response


def multiprocess_dir_reset(path: str) -> None:
    """Start a process tree afresh: the files of processes that are gone would be summed in."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.db"):
        old.unlink(missing_ok=True)


def serve_multiprocess(path: str, *, host: str, port: int) -> threading.Thread:
    """Serve the merged metrics of `path` on host:port (a daemon thread of this process)."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    _server, thread = start_http_server(port, addr=host, registry=registry)
    return thread
