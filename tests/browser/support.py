"""Helpers of the browser tests (Debian's chromium driven by playwright against the real
processes; fixtures in conftest.py).

Playwright's sync API keeps an event loop in the test's thread, where Django refuses ORM calls:
the tests' own database work runs in a short-lived thread (`orm`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import playwright.sync_api as pw
from django.db import connection

from bench.harness.procs import Proc
from orders.models import Market

expect = pw.expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
T = TypeVar("T")
WAIT_MS = 20_000  # live updates: a poll every 1-2 s, settlement within a second


@dataclass
class Stack:
    base_url: str
    market: Market
    operator_password: str
    procs: list[Proc]


def orm(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run database work in a thread of its own (see the module docstring)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def admin_login(page: Any, base: str, username: str, password: str) -> None:
    """Log in to the back office as an operator does: /admin/ sends to its login form."""
    page.goto(base + "/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text(username)
