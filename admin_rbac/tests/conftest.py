from __future__ import annotations

from orders.tests.conftest import drain, funded, market, matcher  # noqa: F401 - shared fixtures
