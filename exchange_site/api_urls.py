"""URL conf of the rest of /api/: the OpenAPI schema and docs, and a JSON -1020 for everything
under /api/ that no app routes. exchange_site/urls.py includes it after the apps' api_urls.

The apps list their own /api/v3/ routes (exact Binance paths: no trailing slash, never a
redirect) in their api_urls modules. The schema (exchange_site.binance.schema) is generated from
the routes Django resolves: a path appears in the document exactly when it is routed.
"""

from __future__ import annotations

from django.urls import path, re_path

from exchange_site.binance.views import docs_static, docs_view, not_found, schema_view

urlpatterns = [
    path("schema/", schema_view, name="api-schema"),
    path("docs/", docs_view, name="api-docs"),
    path("docs/static/<str:path>", docs_static),
    # Anything else under /api/: Binance's "not supported", as JSON, never an HTML page.
    re_path(r"", not_found),
]
