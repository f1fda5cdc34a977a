"""Shared plumbing for operator commands: JSON on stdout, errors as JSON on stderr + exit 1."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from exchange_site.errors import DomainError
from exchange_site.money import parse_decimal


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class JsonCommand(BaseCommand):
    """A command whose result is one JSON object on stdout."""

    def emit(self, payload: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(payload, default=_default, sort_keys=True))

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(json.dumps({"error": exc.msg, "code": exc.code})) from exc


def decimal_arg(raw: str) -> Decimal:
    """argparse type for plain positive decimals (no float, no exponent)."""
    value = parse_decimal(raw)
    if value is None:
        import argparse

        raise argparse.ArgumentTypeError(f"not a plain decimal: {raw!r}")
    return value
