"""The OpenAPI 3 document of /api/v3/, generated from the routed endpoint declarations.

Parameters come from the same `Param` declarations that validate requests; response bodies from
the schemas each endpoint declares. The endpoints are found by walking the URL conf Django
resolves (routed_endpoints), so the document lists exactly what is served.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.urls import URLPattern, URLResolver

from .endpoint import Endpoint, Security
from .openapi import COMPONENTS, ERROR, Schema
from .params import Param
from .signing import RECV_WINDOW_DEFAULT_MS, RECV_WINDOW_MAX_MS, RECV_WINDOW_PATTERN

SIGNED_FIELDS: dict[str, tuple[Schema, bool, str]] = {
    "timestamp": (
        {"type": "integer", "format": "int64", "minimum": 0},
        True,
        "Client time in ms (µs values >= 10^15 accepted). Accepted when timestamp < server"
        " time + 1000 and server time - timestamp <= recvWindow.",
    ),
    "recvWindow": (
        {"type": "string", "pattern": RECV_WINDOW_PATTERN},
        False,
        f"ms, default {RECV_WINDOW_DEFAULT_MS}, at most {RECV_WINDOW_MAX_MS} (-1131); up to 3"
        " decimals.",
    ),
    "signature": (
        {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        True,
        "HMAC-SHA256 (hex) of the raw query string followed by the raw body, without the"
        " signature pair. Must be the last parameter of the part that carries it.",
    ),
}

SECURITY_NOTE = {
    Security.NONE: "Security: NONE (public).",
    Security.USER_DATA: "Security: USER_DATA (signed; the key needs the read permission).",
    Security.TRADE: "Security: TRADE (signed; the key needs the trade permission).",
    Security.WITHDRAW: (
        "Security: USER_DATA (signed; the key needs the read and withdraw permissions)."
    ),
    Security.USER_STREAM: (
        "Security: USER_STREAM (the X-MBX-APIKEY header only, not signed; the key needs the read"
        " permission)."
    ),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _param_object(param: Param) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": param.name,
        "in": "query",
        "required": param.required,
        "schema": param.openapi_schema(),
    }
    description = param.openapi_description()
    if description:
        obj["description"] = description
    return obj


def _operation(path: str, ep: Endpoint) -> dict[str, Any]:
    notes = [ep.description] if ep.description else []
    notes.append(SECURITY_NOTE[ep.security])
    notes.append(f"Weight: {ep.weight_doc or ep.weight}.")
    notes.extend(rule.describe() for rule in ep.params.rules)
    parameters = [_param_object(p) for p in ep.params.params]
    if ep.security.signed:
        for name, (schema, required, text) in SIGNED_FIELDS.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": required,
                    "schema": schema,
                    "description": text,
                }
            )
    operation: dict[str, Any] = {
        "operationId": f"{ep.method.lower()}_{ep.name}",
        "summary": ep.summary,
        "tags": [ep.tag],
        "x-weight": ep.weight_doc or ep.weight,
        "x-security-type": ep.security.value,
    }
    if ep.method in ("POST", "PUT"):
        # Clients send these parameters as an x-www-form-urlencoded body; the query string is
        # accepted too (query wins on a name sent in both).
        notes.append("Parameters may also be sent in the query string.")
        properties = {p["name"]: {**p["schema"], **_desc(p)} for p in parameters}
        required_names = [p["name"] for p in parameters if p["required"]]
        # Undeclared fields are accepted (clients add their own) and ignored, each sent once:
        # a name sent twice is -1101.
        body: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "additionalProperties": {"type": "string"},
        }
        if required_names:
            body["required"] = required_names
        operation["requestBody"] = {
            "required": bool(required_names),
            "content": {"application/x-www-form-urlencoded": {"schema": body}},
        }
    elif parameters:
        if ep.method == "DELETE":
            notes.append("Parameters may also be sent as an x-www-form-urlencoded body.")
        operation["parameters"] = parameters
    operation["description"] = " ".join(notes)
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": ep.response}},
        },
        "400": _error("Request or business error ({code, msg} with a negative code)."),
    }
    if ep.security.keyed:
        responses["401"] = _error("-2014 API-key format invalid / -2015 key, IP or permission.")
        operation["security"] = [{"ApiKey": []}]
    else:
        operation["security"] = []
    responses["413"] = _error("-1101 request body larger than API_MAX_BODY_BYTES.")
    responses["429"] = _error("-1003 request weight or -1015 order rate exceeded; see Retry-After.")
    responses["500"] = _error("-1000 unexpected error (outcome unknown).")
    responses["503"] = _error("-1001 dependency unavailable; -1007 no verdict in time.")
    operation["responses"] = responses
    return operation


def _desc(parameter: dict[str, Any]) -> dict[str, Any]:
    return {"description": parameter["description"]} if "description" in parameter else {}


def routed_endpoints(
    patterns: Iterable[URLPattern | URLResolver], prefix: str = "/"
) -> Iterator[tuple[str, dict[str, Endpoint]]]:
    """(path, method -> Endpoint) of every `route` in `patterns` and the URL confs they
    include, in URL conf order. Call it with django.urls.get_resolver().url_patterns."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routed_endpoints(pattern.url_patterns, prefix + str(pattern.pattern))
            continue
        endpoints: dict[str, Endpoint] | None = getattr(pattern.callback, "endpoints", None)
        if endpoints:
            yield prefix + str(pattern.pattern), endpoints


def openapi_document(routes: Iterable[tuple[str, dict[str, Endpoint]]]) -> dict[str, Any]:
    """The document of `routes` (from routed_endpoints)."""
    paths: dict[str, dict[str, Any]] = {}
    for path, endpoints in routes:
        for method, ep in sorted(endpoints.items()):
            paths.setdefault(path, {})[method.lower()] = _operation(path, ep)
    spectacular = getattr(settings, "SPECTACULAR_SETTINGS", {})
    return {
        "openapi": "3.0.3",
        "info": {
            "title": spectacular.get("TITLE", "Exchange API"),
            "version": spectacular.get("VERSION", "1.0.0"),
            "description": (
                "Binance Spot v3 compatible subset. Decimals are strings in plain notation;"
                ' times are ms since the epoch. Errors are {"code": <negative>, "msg": ...}.'
                " SIGNED endpoints need the X-MBX-APIKEY header and timestamp/signature"
                " parameters."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(COMPONENTS.items())),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"}
            },
        },
    }
