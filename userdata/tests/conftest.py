from __future__ import annotations

from wallet.tests.conftest import wallet_env  # noqa: F401 - shared fixture
