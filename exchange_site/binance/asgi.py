"""A lean ASGI front for /api/v3/: straight to the async endpoint views, nothing else.

Django's ASGIHandler costs more than the API work itself. Per request it opens a
ThreadSensitiveContext and runs the request_started/request_finished receivers and every
MiddlewareMixin hook (sessions, CSRF, auth, messages, prometheus: ~20 calls) through
sync_to_async(thread_sensitive=True), which inside that context means a NEW executor thread per
request. Measured in-process on this 2-core machine: /api/v3/ping ~5 ms through the full stack,
a fraction of that here. None of that machinery serves the Binance API (no sessions, cookies or
CSRF; JSON only), and the endpoint views manage their own database connections
(exchange_site.binance.db).

Wire it in exchange_site/asgi.py:
    application = ProtocolTypeRouter({"http": api_asgi(django_asgi_app), ...})
Everything outside /api/v3/ (admin, UI, /api/schema/, /api/docs/, /metrics) goes to Django as
before. Under the WSGI test client the same views run through the normal Django stack.
"""

from __future__ import annotations

import io
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest, get_script_prefix
from django.http import HttpResponse
from django.urls import Resolver404, resolve, set_script_prefix

from exchange_site.clientip import meta_apply
from exchange_site.logctx import HEADER as REQUEST_ID_HEADER
from exchange_site.logctx import request_id_bind
from exchange_site.metrics import API_LATENCY, API_REQUESTS

from . import errors
from .responses import error_response

log = structlog.get_logger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Loose on purpose: Django's ASGIHandler types scope/receive/send slightly differently.
ASGIApp = Callable[..., Awaitable[None]]

# The Binance API families served here: spot (/api/v3/) and wallet (/sapi/).
API_PREFIXES = ("/api/v3/", "/sapi/")


_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})


class _Aborted(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body; None when it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Aborted
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(response: HttpResponse, send: Send) -> None:
    body = response.content
    headers = [
        (str(name).encode("ascii"), str(value).encode("latin1")) for name, value in response.items()
    ]
    # Django's CommonMiddleware would set it; without it the server falls back to chunking.
    headers.append((b"Content-Length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(exc: errors.ApiError) -> HttpResponse:
    return error_response(exc.code, exc.msg, status=exc.http_status)


async def _respond(scope: Scope, receive: Receive, route: list[str]) -> HttpResponse:
    """The response; `route` receives the matched URL pattern (the metrics' endpoint label)."""
    # Read only up to the API's cap: a larger body is refused before it is buffered or parsed.
    limit = settings.API_MAX_BODY_BYTES
    body = await _read_body(receive, limit)
    if body is None:
        return _error(errors.body_too_large(limit))
    try:
        request = ASGIRequest(scope, io.BytesIO(body))
    except UnicodeDecodeError:  # undecodable path
        return _error(errors.not_supported())
    meta_apply(request.META)  # the client's address behind a trusted proxy (TRUSTED_PROXIES)
    try:
        request.get_host()  # ALLOWED_HOSTS, as Django's CommonMiddleware checks it
        match = resolve(request.path_info)
    except (DisallowedHost, Resolver404):
        return _error(errors.not_supported(http_status=400))
    route.append(match.route)
    response: HttpResponse = await match.func(request, *match.args, **match.kwargs)
    return response


def api_asgi(fallback: ASGIApp) -> ASGIApp:
    """HTTP requests under /api/v3/ and /sapi/ go to the endpoint views directly; the rest to
    `fallback`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIXES):
            await fallback(scope, receive, send)
            return
        set_script_prefix(get_script_prefix(scope))
        request_id = request_id_bind()  # on every log line of this request (logctx)
        started = time.perf_counter()
        route: list[str] = []
        try:
            response = await _respond(scope, receive, route)
        except _Aborted:
            return
        except Exception:
            # The views answer every error themselves; this is the last resort.
            log.exception("api_asgi_unexpected_error", path=scope.get("path"))
            response = _error(errors.unknown_error())
        response[REQUEST_ID_HEADER] = request_id
        await _send(response, send)
        # Unmatched paths share one label: a scanner must not mint a series per URL.
        endpoint = route[0] if route else "unmatched"
        method = scope.get("method", "")
        method = method if method in _METHODS else "other"
        elapsed = time.perf_counter() - started
        API_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        API_LATENCY.labels(endpoint).observe(elapsed)
        log.info(
            "api.request", method=method, endpoint=endpoint, status=response.status_code,
            ms=round(elapsed * 1000, 2),
        )  # fmt: skip

    return app
