"""The trader UI's JSON endpoints (/ui/api/): Django REST framework views authenticated by the
browser session (with its CSRF check), over the same services as the Binance API.

Apps declare their views on `UiApiView`; errors come back as {"code", "msg"} with the services'
codes (the Binance ones) so the page can show the message as it is. JSON bodies are parsed with
decimals kept exact (no float), and amounts travel as strings both ways.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.http import Http404
from rest_framework import exceptions, parsers, permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from exchange_site.errors import DomainError
from exchange_site.money import parse_decimal


class DecimalJSONParser(parsers.JSONParser):
    """JSON with numbers as Decimal (money never passes through float)."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return json.loads(stream.read().decode(), parse_float=Decimal)
        except ValueError as exc:
            raise exceptions.ParseError("The request body is not valid JSON.") from exc


class UiApiView(APIView):
    """Session-authenticated, JSON in and out; DomainError -> 400 {"code", "msg"}."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [DecimalJSONParser]
    schema = None  # not part of the served OpenAPI schema (that one is the Binance API's)

    @property
    def user_id(self) -> int:
        pk = self.request.user.pk
        assert isinstance(pk, int)
        return pk

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, DomainError):
            return Response({"code": exc.code, "msg": exc.msg}, status=exc.http_status)
        if isinstance(exc, Http404):
            return Response({"code": -1121, "msg": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            return Response(
                {"code": -2015, "msg": "Log in to continue."}, status=status.HTTP_403_FORBIDDEN
            )
        if isinstance(exc, exceptions.PermissionDenied) and "CSRF" in str(exc.detail):
            return Response(
                {"code": -1002, "msg": "This page has expired: reload it and try again."},
                status=status.HTTP_403_FORBIDDEN,
            )
        if isinstance(exc, exceptions.APIException):
            detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            return Response({"code": -1100, "msg": detail}, status=exc.status_code)
        return super().handle_exception(exc)


def field(data: Any, name: str, *, required: bool = True) -> str | None:
    """A string field of a JSON body; -1102 when required and missing."""
    value = data.get(name) if isinstance(data, dict) else None
    if value is None or value == "":
        if required:
            raise DomainError(f"Mandatory parameter '{name}' was not sent.", code=-1102)
        return None
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DomainError(f"Parameter '{name}' must be a string.", code=-1100)
    return value.strip()


def decimal_field(data: Any, name: str, *, required: bool = True) -> Decimal | None:
    """A decimal field (a string such as "0.015"); -1100 when it is not a plain decimal."""
    raw = field(data, name, required=required)
    if raw is None:
        return None
    value = parse_decimal(raw)
    if value is None:
        raise DomainError(f"Parameter '{name}' must be a plain decimal number.", code=-1100)
    return value


__all__ = ["DecimalJSONParser", "Request", "Response", "UiApiView", "decimal_field", "field"]
