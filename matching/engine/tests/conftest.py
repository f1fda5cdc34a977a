"""Every engine test runs against each implementation: the pure-Python book and, when built
(scripts/build_engine.py, run by `make test`), the same source compiled by mypyc. The hypothesis
state machine (a unittest TestCase) gets one class per implementation instead."""

from __future__ import annotations

import pytest

from matching.engine import ENGINE_IMPL, IMPLEMENTATIONS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if hasattr(metafunc.module, "OrderBook") and "engine_impl" in metafunc.fixturenames:
        metafunc.parametrize("engine_impl", sorted(IMPLEMENTATIONS), indirect=True)


@pytest.fixture(autouse=True)
def engine_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the test module's `OrderBook` at the implementation of this parameter."""
    name = getattr(request, "param", None)
    if name is None:
        return ENGINE_IMPL
    monkeypatch.setattr(request.module, "OrderBook", IMPLEMENTATIONS[name])
    return str(name)
