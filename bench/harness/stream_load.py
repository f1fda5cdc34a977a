"""Load client for the matcher: a forked producer that XADDs commands to a market's Redis
command stream with matching.stream.commands_enqueue, as the web processes do.

    go = ctx.Event(); result, out = ctx.Pipe(duplex=False)
    ctx.Process(target=produce, args=(items, symbol, rate, redis_url, go, out)).start()
    ...; go.set(); sent, seconds = result.recv()

Fork it before the parent opens its database and Redis connections; it starts on `go`.
"""

from __future__ import annotations

import os
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from matching.engine.commands import Command

Item = tuple[Command, str | None]  # a command and its request id (the web's verdict key)


def produce(
    items: list[Item], symbol: str, rate: int, redis_url: str, go: Event, out: Connection
) -> None:
    """Child process: XADD the (command, request id) items at `rate`/s (0: as fast as
    possible), in pipelines of at most 1,000; send (sent, seconds) through `out`."""
    import redis

    from matching.stream import commands_enqueue

    try:
        client = redis.Redis.from_url(redis_url)
        n = len(items)
        go.wait()
        t0 = time.perf_counter()
        sent = 0
        if rate <= 0:
            while sent < n:
                chunk = items[sent : sent + 1000]
                commands_enqueue(client, symbol, chunk)
                sent += len(chunk)
        else:
            while sent < n:
                now = time.perf_counter() - t0
                due = min(n, int(now * rate) + 1)
                if due > sent:
                    chunk = items[sent : min(due, sent + 1000)]
                    commands_enqueue(client, symbol, chunk)
                    sent += len(chunk)
                # ~1 ms slices: the commands due in one slice go in one pipeline.
                time.sleep(0.001)
        out.send((sent, time.perf_counter() - t0))
        out.close()
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(0)  # never run the parent's finalizers (its DB and Redis sockets) here
