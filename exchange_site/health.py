"""Health of the running exchange: `/healthz` (this process is up), `/readyz` (its dependencies
answer) and the heartbeats the other processes leave in Redis.

- The matcher writes `health:matcher:<shard>:<consumer>` about once a second (role, fencing
  token, last batch time, stream lag); a standby writes its own with role "standby".
- The Celery worker runs `ops.heartbeat` from beat every OPS_HEARTBEAT_EVERY_S and writes
  `health:worker:<hostname>` (proves broker, beat and worker: the whole task path).

Each key expires (HEARTBEAT_TTL_S), so a dead process disappears. `/readyz` answers 503 only when
this web process cannot serve (PostgreSQL, Redis, the channel layer); the matchers' and workers'
state is reported beside it ("processes"), for an operator or a monitor to act on, since a stuck
matcher must not take the web out of a load balancer.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from exchange_site.celery_typing import shared_task
from exchange_site.redis import get_redis

HEARTBEAT_TTL_S = 30
# A heartbeat older than this is reported stale.
STALE_S = 15.0


def heartbeat_write(kind: str, name: str, fields: dict[str, Any]) -> None:
    """Leave this process's heartbeat (kind: matcher | worker) in Redis."""
    payload = {**fields, "at": time.time(), "pid": os.getpid(), "host": socket.gethostname()}
    get_redis().set(f"health:{kind}:{name}", json.dumps(payload), ex=HEARTBEAT_TTL_S)


def heartbeats_read() -> dict[str, list[dict[str, Any]]]:
    """Every live heartbeat by kind, each with its age and a stale flag."""
    client = get_redis()
    keys = sorted(client.scan_iter(match="health:*", count=1000))
    out: dict[str, list[dict[str, Any]]] = {"matcher": [], "worker": []}
    if not keys:
        return out
    now = time.time()
    for key, raw in zip(keys, client.mget(keys), strict=True):
        if raw is None:
            continue
        _, kind, name = key.decode().split(":", 2)
        beat = json.loads(raw)
        age = now - float(beat.get("at", 0))
        out.setdefault(kind, []).append(
            {"name": name, **beat, "age_s": round(age, 3), "stale": age > STALE_S}
        )
    return out


@shared_task(name="ops.heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    """Run by a worker on beat's schedule: the task path from beat to a worker works."""
    from celery import current_task

    hostname = str(getattr(current_task.request, "hostname", None) or socket.gethostname())
    heartbeat_write("worker", hostname, {})


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving HTTP; nothing else is checked."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetchone()


def _check_redis() -> None:
    get_redis().ping()


async def _channel_roundtrip() -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel("health.")
    await layer.send(channel, {"type": "health.ping"})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    if message.get("type") != "health.ping":
        raise RuntimeError("unexpected message")


def _check_channel_layer() -> None:
    async_to_sync(_channel_roundtrip)()


CHECKS = {
    "database": _check_database,
    "redis": _check_redis,
    "channel_layer": _check_channel_layer,
}


def _processes() -> dict[str, Any]:
    beats = heartbeats_read()
    matchers = beats.get("matcher", [])
    primaries: dict[str, bool] = {}
    for beat in matchers:
        shard = str(beat.get("shard"))
        if beat.get("role") == "primary" and not beat["stale"]:
            primaries[shard] = True
        else:
            primaries.setdefault(shard, False)
    workers = beats.get("worker", [])
    return {
        "matchers": matchers,
        "workers": workers,
        # Every shard seen has a fresh primary; at least one worker ran the heartbeat task.
        "matcher_ok": bool(primaries) and all(primaries.values()),
        "worker_ok": any(not w["stale"] for w in workers),
    }


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when PostgreSQL, Redis and the channel layer answer; 503 naming what failed."""
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = "error"
            if settings.DEBUG:
                checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, Any] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if checks["redis"] == "ok":
        body["processes"] = _processes()
    return JsonResponse(body, status=200 if ready else 503)
