"""REST order-placement benchmark (``make bench-api``): ``python -m bench.api [--rate N]
[--seconds S] [--traders N] [--web-procs N] [--concurrency K] [--resp-types ACK,FULL]
[--profile] [--no-peer]``.

End to end through the real stack, as a Binance client sees it: signed ``POST /api/v3/order``
(form body, HMAC-SHA256 over the raw body, header X-MBX-APIKEY, timestamp + recvWindow) to
daphne processes serving ``exchange_site.asgi:application``, with the real matcher
(``manage.py run_matcher``) and a Celery worker (settlement) running as subprocesses.
docs/architecture.md targets: >= 1,000 orders/s; p99 < 25 ms at 300 orders/s. Report:
docs/bench-api.md.

Isolation: its own database and Redis db (default ``postgres://postgres@127.0.0.1:5432/
exchange_bench_api`` and ``redis://127.0.0.1:6379/13``; the database name must contain "bench").
Every run creates the database if missing (``jit = off`` on it), migrates, truncates every
application table and flushes its Redis db (bench.harness.database).

Setup (bench.api.workload): market BTCUSDT (tick 0.01, step 0.00001, min notional 5) and
--traders funded traders (orders.services.market_create, accounts.services.user_create /
api_key_issue, clearing.services.balance_credit_external), each with one API key (read, trade)
on the ``unlimited`` rate-limit tier (ApiKey.tier: counted per web process, never refused, no
Redis round trip).
MAX_OPEN_ORDERS_PER_MARKET is raised for the processes so that the per-user open-order filter
cannot refuse bench orders (the mix below keeps the book small anyway). Before the stack starts,
orders.services.order_place is timed in-process (statements, Redis round trips, wall and CPU
per call: the floor of the service behind the endpoint).

The stack (bench.harness.procs): --web-procs daphne processes, the matcher, a Celery worker
(and beat with --beat), each in its own process group, logs in the log directory.

Load (bench.harness.rest_load; one asyncio process, aiohttp, a keep-alive connection pool per
web port; with --web-procs > 1 the requests go round-robin over the ports, there is no proxy):
LIMIT orders, trader i % N for request i, side at random; half of them resting (GTC, 1-200
ticks away from 50,000.00), half crossing (IOC at 50,005.00 / 49,995.00, taking the best
resting order of the other side, expiring otherwise). Quantity 0.001 (notional ~50 USDT).

Phases, per response type (--resp-types, default ACK then FULL), each after a --warmup at the
same load (not measured; ends with ANALYZE of the hot tables, as autovacuum would do -- this
server runs with autovacuum off):
  rate        open loop, per --rate: request k is due at t0 + k/rate whatever the answers do;
              latency = answer time minus the DUE time (queueing in the client counts); at most
              --connections requests in flight per port, the request is signed when it leaves.
              Accepted orders/s = HTTP 200 answers / (last answer - t0): the rate when the stack
              keeps up, its capacity when it does not; requests unanswered 10 s after the last
              due time are cancelled and reported as errors.
  saturation  closed loop: --concurrency workers, each sends its next request when the
              previous one answered; latency from the actual send; answers after the window
              are not counted.
--profile adds a saturation phase (first response type) with two py-spy recorders on web
process 1 (bench.harness.pyspy; --gil: where its CPU goes; all threads: where requests wait);
its figures are not the benchmark's. Raw stacks and summaries are kept in the log directory.

Per phase it prints offered rate, accepted orders/s, errors by code, p50/p90/p99/max latency,
the CPU used by each part (bench.harness.cpu: web, matcher, worker, the bench database's
PostgreSQL backends, Redis, this client, other processes: client and server share this 2-core
machine) in cores and ms per accepted order, and the mean number of PostgreSQL backends per
wait state (running, waiting for a row lock, idle in transaction = waiting for their client).

After the stack has stopped, clearing.invariants.ledger_check_invariants() is checked (exit
status 1 when one is broken).

The peer (--peer, the default): matching-engine 0.1.1 with its ``gateway`` extra (FastAPI under
uvicorn/httptools, fsynced WAL, no authentication, no funds), Python 3.12 in its own venv
``.venv-peer/`` (git-ignored; scripts/peer_venv.sh installs it on the first run), started after
our stack has stopped, driven by the same client with the same traders, seed, order mix and
phases (its JSON ``POST /markets/BTC-USDT/orders``). The summary prints ``peer orders/s`` and
``ours / peer`` per saturation phase; its last line is ``orders/s: N`` (ours: saturation, the
first response type).
"""
