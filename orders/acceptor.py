"""Group commit: one thread per process runs, in one call, the items that arrive while it is busy.

Callers (the API's thread pool) `submit` an item and block until its own result. The group
thread takes the first item the moment it arrives (an idle group thread never makes an item
wait), then every item already queued, up to `max_size`, and hands the group to `run`, which
returns one result or exception per item, in order. While one group runs the next one queues, so
the busier the process, the larger the groups; there is no timer anywhere.

orders.services uses it to accept concurrent orders in one transaction (docs/order-path.md).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger(__name__)
I = TypeVar("I")  # noqa: E741 - the item
R = TypeVar("R")


class GroupRunner(Generic[I, R]):
    """Run `run(items)` on a thread of its own for the items submitted together."""

    def __init__(
        self,
        run: Callable[[list[I]], Sequence[R | BaseException]],
        *,
        max_size: int,
        name: str,
    ) -> None:
        self._run = run
        self._max_size = max_size
        self._name = name
        self._queue: queue.SimpleQueue[tuple[I, Future[R]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.sizes: Counter[int] = Counter()  # group size -> groups run (written by the thread)

    def submit(self, item: I) -> R:
        """Queue `item` for the next group and wait for its result (or raise its exception)."""
        future: Future[R] = Future()
        self._queue.put((item, future))
        self._start()
        return future.result()

    def waiting(self) -> int:
        """Items queued and not yet taken into a group."""
        return self._queue.qsize()

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < self._max_size:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_group(group)

    def _run_group(self, group: list[tuple[I, Future[R]]]) -> None:
        try:
            results = self._run([item for item, _ in group])
            assert len(results) == len(group)
        except Exception as exc:  # the thread outlives any group: every caller gets the error
            log.exception("group.failed", group=self._name, size=len(group))
            results = [exc] * len(group)
        self.sizes[len(group)] += 1
        for (_, future), result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
