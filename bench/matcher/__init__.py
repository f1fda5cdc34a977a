"""Matcher benchmark (``make bench-matcher``): ``python -m bench.matcher [--rate N] [--seconds S]
[--orders N]``.

Measures the real matching worker (matching.worker.Matcher, in this process) including its
PostgreSQL batch commit, fed through the real Redis command stream, and settlement by a real
Celery worker (``celery -A exchange_site worker``) fed by the matcher's settle_market_enqueue.
docs/architecture.md targets: matcher >= 20,000 commands/s sustained, p99 stream-to-commit < 20 ms
at 5,000/s; settlement lag p99 < 1 s at 1,000 trades/s. Report: docs/bench-matcher.md.

Isolation: its own database and Redis db (default ``postgres://postgres@127.0.0.1:5432/
exchange_bench`` and ``redis://127.0.0.1:6379/14``; the database name must contain "bench").
Every run creates the database if missing (``jit = off`` on it unless --pg-jit), migrates,
empties every table and flushes its Redis db (bench.harness.database).

Setup (bench.matcher.workload): market BTCUSDT, 50 traders funded through
clearing.services.balance_credit_external, then the standard random stream (bench.streams),
its orders pre-created in bulk as PENDING_NEW rows with their holds and ledger locks. Every
command carries a request id, as the web's do, so the matcher publishes a verdict per command.

Run: a forked producer (bench.harness.stream_load) XADDs the commands at --rate commands/s
(paced in ~1 ms slices) or as fast as it can (--rate 0: saturation). The matcher runs
run_once() until every entry is acknowledged; BenchMatcher (bench.matcher.instrumented)
records, for every entry of a batch, commit time minus the entry id's millisecond timestamp.
Then the script waits until settlement has settled every trade and released every finished
order's hold, stops the worker and checks clearing.invariants.ledger_check_invariants()
(exit status 1 when one is broken).

The last lines printed are the figures:
  offered rate / commands/s / stream-to-commit p50/p99/max ms / trades /
  settlement trades/s / settlement lag p50/p99 ms
"""
