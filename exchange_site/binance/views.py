"""Non-endpoint views under /api/: OpenAPI schema, docs page, its static files, JSON 404."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import drf_spectacular_sidecar
import orjson
from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver
from django.views.decorators.csrf import csrf_exempt

from . import errors
from .db import db_call
from .responses import error_response
from .schema import openapi_document, routed_endpoints

# Swagger UI ships inside drf-spectacular-sidecar: served from the package, no CDN (the
# machines have no internet) and no collectstatic step.
SWAGGER_DIR = (
    Path(drf_spectacular_sidecar.__file__).parent
    / "static"
    / "drf_spectacular_sidecar"
    / "swagger-ui-dist"
)
DOCS_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}

DOCS_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Exchange API</title>
  <link rel="stylesheet" href="/api/docs/static/swagger-ui.css">
  <link rel="icon" type="image/png" href="/api/docs/static/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/api/schema/",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  </script>
</body>
</html>
"""


@functools.cache
def _schema_bytes() -> bytes:
    return orjson.dumps(openapi_document(routed_endpoints(get_resolver().url_patterns)))


async def schema_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_schema_bytes(), content_type="application/json")


async def docs_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(DOCS_HTML, content_type="text/html; charset=utf-8")


@functools.cache
def _asset(name: str) -> bytes:
    return (SWAGGER_DIR / name).read_bytes()


async def docs_static(request: HttpRequest, path: str) -> HttpResponse:
    """The few Swagger UI files the docs page loads, from memory (a FileResponse would be a
    sync iterator, which ASGI serving warns about)."""
    content_type = DOCS_ASSETS.get(path)
    if content_type is None:
        exc = errors.not_supported()
        return error_response(exc.code, exc.msg, status=exc.http_status)
    response = HttpResponse(await db_call(_asset, path), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response


@csrf_exempt
async def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    exc = errors.not_supported()
    return error_response(exc.code, exc.msg, status=exc.http_status)
