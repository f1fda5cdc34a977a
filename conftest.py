"""Project-wide fixtures: real PostgreSQL and Redis, nothing mocked."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import redis
from celery.app.task import Task
from django.conf import settings
from django.db import connection

# Property and fuzz tests run the same examples on every run (`make test` and CI must not pass or
# fail by luck); HYPOTHESIS_PROFILE=explore draws new ones to hunt for failures locally.
hypothesis.settings.register_profile("repeatable", derandomize=True, database=None)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


def _fail_if_inside_app_atomic(what: str) -> None:
    # TestCase-style wrapping marks its own atomic blocks with _from_testcase; any other open
    # block was opened by the code under test, so the message would be sent before commit.
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise AssertionError(f"{what} inside an open transaction: use transaction.on_commit")


@pytest.fixture(autouse=True)
def _no_enqueue_inside_atomic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test whose code XADDs to a stream or enqueues a task inside a transaction."""
    original_apply_async = Task.apply_async
    original_xadd = redis.Redis.xadd

    def apply_async(self: Task, *args: Any, **kwargs: Any) -> Any:
        _fail_if_inside_app_atomic(f"task {self.name}")
        return original_apply_async(self, *args, **kwargs)

    def xadd(self: redis.Redis, *args: Any, **kwargs: Any) -> Any:
        _fail_if_inside_app_atomic("stream XADD")
        return original_xadd(self, *args, **kwargs)

    monkeypatch.setattr(Task, "apply_async", apply_async)
    monkeypatch.setattr(redis.Redis, "xadd", xadd)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A client on the test Redis database, emptied before the test."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.close()
