from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from matching.worker import Matcher
from tests import api_client
from tests.api_client import (  # noqa: F401 - fixtures
    _api_key_cache_isolated,
    api,
    signed_api,
    trader,
)


@pytest.fixture
def live_matcher(matcher: Matcher) -> Iterator[Matcher]:
    """The in-process matcher applying commands in a background thread, as `run_matcher`
    would, so that API requests waiting for a verdict get one."""
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                matcher.run_once()
        finally:
            connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield matcher
    stop.set()
    thread.join(10)


@pytest.fixture
def client_for(api: api_client.ApiClient) -> Callable[[Any], api_client.ApiClient]:  # noqa: F811
    """An API client (sharing the test's event loop) signed with a new key of `user`."""

    def make(user: Any) -> api_client.ApiClient:
        key, secret = api_client.issue_key(user)
        return api_client.ApiClient(api.runner, key=key.key, secret=secret)

    return make
