"""Test helpers for money flows (imported by tests of every app)."""

from __future__ import annotations

from .invariants import ledger_check_invariants


def assert_ledger_invariants() -> None:
    """Every money test ends with this: each DESIGN.md invariant holds."""
    problems = ledger_check_invariants()
    assert not problems, "broken money invariants:\n" + "\n".join(problems)
