"""The benchmark's own database and Redis db: environment, creation, reset, statistics, and the
money check after a run.

A benchmark never touches the development or test data: its database name must contain
"bench", and it owns its Redis db (flushed on every reset). Call `bench_environ` before
`django.setup()`: it points Django, here and in every child process, at both.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable

# Kept across the reset (created by migrate, referenced by the content-type machinery).
KEEP_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})


def argument_parser(
    prog: str, description: str, *, database_url: str, redis_url: str
) -> argparse.ArgumentParser:
    """A benchmark's parser, with the options every benchmark on the stack has: its own
    --database-url and --redis-url (defaults: the benchmark's)."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--database-url", default=database_url, help="name must contain 'bench'")
    p.add_argument("--redis-url", default=redis_url, help="its db is flushed on every run")
    return p


def bench_environ(*, database_url: str, redis_url: str, **extra: str) -> None:
    """Set the environment of this process (and so of its children) for a benchmark run:
    production settings without DEBUG, the bench database and Redis db, plus `extra`."""
    import os

    import dj_database_url

    name = dj_database_url.parse(database_url).get("NAME") or ""
    if "bench" not in name:
        sys.exit(f"refusing to use database {name!r}: its name must contain 'bench'")
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["CELERY_BROKER_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "exchange_site.settings.base"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["PYTHONUNBUFFERED"] = "1"
    os.environ.update(extra)


def database_create(url: str, *, jit: bool = False) -> None:
    """Create the database if missing; `jit=False` sets ``jit = off`` on it (for every
    connection of the stack). With JIT, PostgreSQL once compiled one settlement bulk_update of
    ~30k CASE branches for over 15 minutes, uninterruptible (docs/bench-matcher.md)."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    with psycopg.connect(
        host=cfg["HOST"] or "127.0.0.1", port=cfg["PORT"] or 5432, user=cfg["USER"] or "postgres",
        password=cfg.get("PASSWORD") or None, dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if exists.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
            print(f"created database {cfg['NAME']}")
        name = sql.Identifier(cfg["NAME"])
        if jit:
            conn.execute(sql.SQL("ALTER DATABASE {} RESET jit").format(name))
        else:
            conn.execute(sql.SQL("ALTER DATABASE {} SET jit = off").format(name))


def database_reset() -> None:
    """End every other session on the bench database, migrate, empty every table and the
    Redis db: each run starts from nothing."""
    from django.core.management import call_command
    from django.db import connection

    from exchange_site.redis import get_redis

    sessions_terminate()
    call_command("migrate", verbosity=0, interactive=False)
    tables = [t for t in connection.introspection.table_names() if t not in KEEP_TABLES]
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    get_redis().flushdb()


def analyze(tables: Iterable[str], *, vacuum: bool = False) -> None:
    """What autovacuum would do (this server runs with it off): without statistics the planner
    joins the matcher's 1,000-row VALUES list to orders by sequential scan."""
    from django.db import connection

    verb = "VACUUM ANALYZE" if vacuum else "ANALYZE"
    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f"{verb} {table}")


def sessions_terminate(timeout: float = 60) -> None:
    """End every other session on the bench database (a killed worker's query keeps running)."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    with connection.cursor() as cur:
        while True:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (left,) = cur.fetchone()
            if not left:
                return
            if time.monotonic() > deadline:
                print(f"warning: {left} bench sessions did not end", file=sys.stderr)
                return
            time.sleep(0.5)


def money_check() -> list[str]:
    """After a run, once every process that writes has stopped (the invariants are read in
    several queries): end the sessions left behind and check docs/architecture.md's money
    invariants. Returns the broken ones; a benchmark prints them and exits 1 when there are any."""
    from clearing.invariants import ledger_check_invariants

    sessions_terminate()
    return ledger_check_invariants()
