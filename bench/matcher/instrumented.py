"""The real Matcher with timers: per-entry stream-to-commit latency and time per phase of a
batch (read, apply, commit, after-commit). Import after django.setup()."""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Iterator
from typing import Any

from matching.worker import Entries, Matcher, _Batch

clock = time.perf_counter


class BenchMatcher(Matcher):
    """The real Matcher, with per-entry stream-to-commit latency and phase timers."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.latencies_ms: list[float] = []
        self.commits: list[tuple[float, int, int]] = []  # (wall time, commands, trades)
        self.acked = 0
        self.phase = {"read": 0.0, "apply": 0.0, "commit": 0.0, "after_commit": 0.0}

    @contextlib.contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        t = clock()
        try:
            yield
        finally:
            self.phase[phase] += clock() - t

    def _read(self) -> Entries:
        with self._timed("read"):
            return super()._read()

    def _apply(self, entries: Entries) -> _Batch:
        with self._timed("apply"):
            return super()._apply(entries)

    def _commit(self, batch: _Batch) -> None:
        with self._timed("commit"):
            super()._commit(batch)

    def _after_commit(self, batch: _Batch) -> None:
        # Commit time minus the entry id's millisecond timestamp (Redis server clock, same
        # host; ids are truncated to the ms, so figures read up to 1 ms high).
        now = time.time()
        now_ms = now * 1000
        lat = self.latencies_ms
        for ids in batch.acks.values():
            for entry_id in ids:
                lat.append(now_ms - int(entry_id.partition("-")[0]))
            self.acked += len(ids)
        self.commits.append((now, batch.commands, len(batch.trades)))
        with self._timed("after_commit"):
            super()._after_commit(batch)


def bench_matcher_class(spec: str | None) -> type[BenchMatcher]:
    """BenchMatcher over matching.worker.Matcher, or over the Matcher subclass named by `spec`
    (``MODULE:CLASS``, a prototype): the timers wrap whatever it overrides."""
    if not spec:
        return BenchMatcher
    module, _, name = spec.partition(":")
    prototype: type[Matcher] = getattr(importlib.import_module(module), name)
    return type("BenchMatcher", (BenchMatcher, prototype), {})
