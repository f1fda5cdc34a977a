"""JSON responses of the API: orjson, and errors always as {"code", "msg"}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from django.http import HttpResponse

CONTENT_TYPE = "application/json"


def _refuse(value: Any) -> Any:
    # Decimals must be rendered by the endpoint with exchange_site.money.fmt at the asset's
    # precision; a bare Decimal here is a bug, and a float rendering would lose precision.
    raise TypeError(f"not JSON-renderable here: {type(value).__name__}")


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(data, default=_refuse), content_type=CONTENT_TYPE, status=status
    )
    if headers:
        for name, value in headers.items():
            response[name] = value
    return response


def error_response(
    code: int, msg: str, *, status: int = 400, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    return json_response({"code": code, "msg": msg}, status=status, headers=headers)
