"""CPU accounting of a running stack: the CPU seconds each part used during a phase (the
stack's processes and their children, the bench database's PostgreSQL backends, Redis, this
client, other processes of the machine), read from /proc (Linux), and how the PostgreSQL
backends of the bench database spent their time (sampled from pg_stat_activity).

    meter = CpuMeter(procs, redis_pid)
    meter.start(); ...load...; cpu = meter.stop()   # {label: CPU seconds, "_wall": s, ...}

Labels starting with "_" are not parts: ``_wall`` (s), ``_machine_busy_cores``,
``_others_cores`` (cores used by processes outside the stack) and ``_postgres_server`` (the
whole server incl. exited backends and other databases: an upper bound).
"""

from __future__ import annotations

import collections
import os
import resource
import threading
import time
from collections.abc import Sequence

from bench.harness.procs import Proc

CLK_TCK = os.sysconf("SC_CLK_TCK")
PG_LABEL = "postgres (bench db backends)"


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (so [1] is the ppid, [11:15] utime,
    stime, cutime, cstime); empty when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _proc_cpu_s(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0  # utime, stime


def _server_cpu_s(root: int, tree: dict[int, list[int]]) -> float:
    """CPU of a forking server: itself, its reaped children (cutime, cstime) and the live ones."""
    fields = _stat(root)
    if not fields:
        return 0.0
    own = sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime
    return own + sum(_proc_cpu_s(pid) for pid in tree.get(root, ()))


def _ppid(pid: int | str) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else 0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (ppid := _ppid(entry)):
            tree[ppid].append(int(entry))
    return tree


def _tree_pids(root: int, tree: dict[int, list[int]]) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, ()))
    return out


def _system_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


class CpuMeter:
    """CPU seconds used by each part of the stack between start() and stop()."""

    def __init__(self, procs: Sequence[Proc], redis_pid: int | None) -> None:
        self.procs, self.redis_pid = procs, redis_pid

    def _groups(self) -> dict[str, list[int]]:
        from django.db import connection

        tree = _children()
        groups: dict[str, list[int]] = collections.defaultdict(list)
        for proc in self.procs:
            label = "web" if proc.name.startswith("web") else proc.name
            groups[label].extend(_tree_pids(proc.pid, tree))
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            groups[PG_LABEL] = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT pg_backend_pid()")
            self.postmaster = _ppid(cur.fetchone()[0])
        self.tree = tree
        if self.redis_pid:
            groups["redis-server (shared)"] = [self.redis_pid]
        return groups

    def _sample(self, groups: dict[str, list[int]]) -> dict[int, float]:
        return {pid: _proc_cpu_s(pid) for pids in groups.values() for pid in pids}

    def start(self) -> None:
        self.waits = PgWaitSampler()
        self.waits.start()
        self.g0 = self._groups()
        self.s0 = self._sample(self.g0)
        self.pg0 = _server_cpu_s(self.postmaster, self.tree)
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF)
        self.sys0 = _system_busy()
        self.t0 = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        sys1 = _system_busy()
        g1 = self._groups()
        s1 = self._sample(g1)
        self.pg_waits = self.waits.stop()
        for pid, cpu in self.waits.cpu_last.items():  # backends gone by now: last reading
            s1[pid] = max(s1.get(pid, 0.0), cpu)
            g1[PG_LABEL].append(pid)
        out: dict[str, float] = {}
        # Every backend of the server, also those that exited during the phase and those of
        # other databases (other users of this machine): an upper bound for the line above.
        out["_postgres_server"] = _server_cpu_s(self.postmaster, self.tree) - self.pg0
        for label in g1:
            pids = set(g1[label]) | set(self.g0.get(label, ()))
            # A pid absent at the start started during the phase: counted from zero.
            out[label] = sum(max(0.0, s1.get(p, 0.0) - self.s0.get(p, 0.0)) for p in pids)
        out["client (this process)"] = (
            ru1.ru_utime - self.ru0.ru_utime + ru1.ru_stime - self.ru0.ru_stime
        )
        busy = sys1[0] - self.sys0[0]
        total = sys1[1] - self.sys0[1]
        out["_machine_busy_cores"] = busy / total * (os.cpu_count() or 1) if total else 0.0
        out["_wall"] = wall
        ours = sum(v for k, v in out.items() if not k.startswith("_"))
        out["_others_cores"] = max(0.0, out["_machine_busy_cores"] - ours / wall)
        return out


class PgWaitSampler(threading.Thread):
    """Samples pg_stat_activity of the bench database every 20 ms: how many backends are
    running, waiting for a lock, or idle in a transaction (waiting for their client). Also
    keeps the last CPU reading of every backend it sees (every 100 ms), so that a backend that
    exits during the phase (Django recycles connections after CONN_MAX_AGE) is still counted."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.cpu_last: dict[int, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psycopg

        url = os.environ["DATABASE_URL"]
        with psycopg.connect(url, autocommit=True) as conn:
            while not self._stop_event.wait(0.02):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend' AND state <> 'idle'"
                ).fetchall()
                self.samples += 1
                for state, wtype, wevent in rows:
                    what = "running (CPU)" if wtype is None else f"{wtype}:{wevent}"
                    self.counts[f"{state} / {what}"] += 1
                if self.samples % 5 == 0:
                    pids = conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND pid <> pg_backend_pid()"
                    ).fetchall()
                    for (pid,) in pids:
                        cpu = _proc_cpu_s(pid)
                        if cpu:
                            self.cpu_last[pid] = cpu

    def stop(self) -> dict[str, float]:
        self._stop_event.set()
        self.join(timeout=5)
        n = max(self.samples, 1)
        return {k: v / n for k, v in self.counts.most_common()}


def cpu_report(cpu: dict[str, float], pg_waits: dict[str, float], *, n: int, unit: str) -> None:
    """Print what CpuMeter.stop() measured: cores used by each part and ms CPU per `unit`
    (n of them in the phase), then the PostgreSQL backends' mean number per state."""
    wall = cpu["_wall"]
    per = float(max(n, 1))
    print(
        f"CPU (cores used; ms CPU per {unit}), wall {wall:.1f} s; machine busy"
        f" {cpu['_machine_busy_cores']:.2f} of {os.cpu_count()} cores"
        " (client and server share this machine):"
    )
    for label, secs in sorted(cpu.items(), key=lambda kv: -kv[1]):
        if label.startswith("_"):
            continue
        print(f"  {label:32s} {secs / wall:5.2f}   {secs * 1000 / per:6.2f}")
    print(f"  {'other processes on the machine':32s} {cpu['_others_cores']:5.2f}")
    server = cpu.get("_postgres_server", 0.0)
    print(
        f"  {'(postgres server, all databases':32s} {server / wall:5.2f}   "
        f"{server * 1000 / per:6.2f}  incl. exited backends: upper bound)"
    )
    if pg_waits:
        print("PostgreSQL backends of the bench db, mean number per state (sampled every 20 ms):")
        for what, mean in list(pg_waits.items())[:8]:
            print(f"  {mean:6.2f}  {what}")
