"""Concurrency in tests: threads on separate database connections (STYLE.md, "Tests")."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def threads_run(work: Callable[[int], None], n: int, *, start_together: bool = True) -> None:
    """Run work(0) .. work(n - 1) on n threads, each on its own database connection (closed
    when its work ends), and return when all have finished. `start_together`: they wait for
    one another at a barrier first, so that their transactions really overlap."""
    barrier = threading.Barrier(n) if start_together else None

    def run(i: int) -> None:
        if barrier is not None:
            barrier.wait()
        try:
            work(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
