"""One place where configuration enters: every setting from the environment goes through env()."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
_MISSING = object()


def _load_dotenv() -> None:
    """Read BASE_DIR/.env (KEY=VALUE lines) without overriding the real environment.

    `make run` writes generated secrets there so that a fresh clone needs no manual step.
    """
    path = BASE_DIR / ".env"
    if os.environ.get("EXCHANGE_NO_DOTENV") or not path.exists():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip())


_load_dotenv()


def env(name: str, default: Any = _MISSING, *, cast: type = str) -> Any:
    """Return the environment variable `name` cast to `cast`; raise when required and missing."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if default is _MISSING:
            raise ImproperlyConfigured(f"Set the {name} environment variable")
        return default
    if cast is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ImproperlyConfigured(f"{name} must be a boolean, got {raw!r}")
    try:
        return cast(raw)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{name} must be {cast.__name__}, got {raw!r}") from exc
