from __future__ import annotations

from orders.tests.conftest import funded, market  # noqa: F401 - shared fixtures
from tests.live import live_stack  # noqa: F401 - shared fixture
from wallet.tests.conftest import wallet_env  # noqa: F401 - shared fixture
