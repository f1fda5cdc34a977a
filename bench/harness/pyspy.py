"""py-spy profiles of a web process under load: `spy_start` attaches two recorders (the thread
holding the GIL: where the CPU goes; every non-idle thread: where requests wait), `spy_report`
summarises their raw (collapsed) stacks by layer, by part of the API path and by function.

The summaries land next to the raw stacks in the log directory (``web1-pyspy-*.txt``).
"""

from __future__ import annotations

import collections
import subprocess
from pathlib import Path

# (label, substrings of a py-spy frame "function (path:line)"); a sample counts towards a label
# when any of its frames matches (inclusive shares: labels overlap, they do not sum to 100 %).
PROFILE_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("HTTP server: daphne + Twisted (parse, respond)", (
        "twisted/web/", "twisted/internet/tcp.py", "twisted/internet/abstract.py",
        "daphne/http_protocol.py", "application_checker (daphne",
    )),
    ("  Twisted Content-Type parsing (email package)", ("_parseContentType (twisted",)),
    ("API front + endpoint, event-loop side", ("binance/asgi.py", "binance/endpoint.py")),
    ("  API key lookup / mark used", ("accounts/apikeys.py",)),
    ("  rate limit (Redis pipeline)", ("binance/ratelimit.py",)),
    ("  HMAC signature + timing check", ("binance/signing.py",)),
    ("  parameter validation", ("binance/params.py",)),
    ("  JSON response", ("binance/responses.py",)),
    ("order_place (orders/services.py)", ("order_place (orders/services.py",)),
    ("  market_get (one query per order)", ("market_get (orders/selectors.py",)),
    ("  _validate (filters, reference price)", ("_validate (orders/services.py",)),
    ("  _insert (count, insert order, hold, ledger)", ("_insert (orders/services.py",)),
    ("  ledger_post (lock accounts, postings, balances)", ("ledger_post (clearing/services.py",)),
    ("  COMMIT", ("commit (django/db/backends/base/base.py",)),
    ("Django ORM (query build/compile, model instances)", ("django/db/models/",)),
    ("psycopg (send query, wait for result)", ("psycopg/",)),
    ("redis-py (sync and asyncio)", ("redis/",)),
    ("API thread pool (db_call: services, ORM, SQL)", ("_with_connection_hygiene",)),
]  # fmt: skip

# Exclusive view: each sample goes to the layer of its leaf-most frame that matches one (the
# first entry wins on a tie); shares sum to 100 %.
PROFILE_LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("PostgreSQL driver (psycopg)", ("psycopg/",)),
    ("Redis client (redis-py)", ("redis/",)),
    ("Django ORM + transaction code", ("django/db/",)),
    ("order and ledger services (orders/, clearing/, matching/)", (
        "(orders/", "(clearing/", "(matching/", "(marketdata/",
    )),
    ("API layer (exchange_site/binance/)", ("exchange_site/binance/",)),
    ("HTTP server (daphne, Twisted, email header parsing)", (
        "daphne/", "twisted/", "email/", "autobahn/",
    )),
    ("Django request/response objects", ("django/http/", "django/core/handlers/", "django/")),
    ("asyncio, asgiref, thread pool", ("asyncio/", "asgiref/", "concurrent/", "threading.py")),
]  # fmt: skip


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, needles in PROFILE_LAYERS:
            if any(n in frame for n in needles):
                return label
    return "other"


def _profile_summary(raw_path: Path, what: str, top: int = 25) -> str:
    """Bucket, layer and per-function sample shares from py-spy's raw (collapsed) output."""
    inclusive: collections.Counter[str] = collections.Counter()
    selfc: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = stack.split(";")
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        selfc[frames[-1]] += count
        layers[_layer(frames)] += count
        for label, needles in PROFILE_BUCKETS:
            if any(n in f for f in frames for n in needles):
                buckets[label] += count
    if not total:
        return "no samples"
    pct = 100.0 / total
    lines = [f"{total} samples ({what})", "", "by layer (exclusive, leaf-most match):"]
    lines += [f"  {n * pct:5.1f}%  {label}" for label, n in layers.most_common()]
    lines += ["", "by part (inclusive):"]
    lines += [f"  {buckets[label] * pct:5.1f}%  {label}" for label, _ in PROFILE_BUCKETS]
    lines += ["", "top functions, inclusive:"]
    lines += [f"  {n * pct:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "top functions, self:"]
    lines += [f"  {n * pct:5.1f}%  {f}" for f, n in selfc.most_common(top)]
    return "\n".join(lines)


PROFILES = {
    # file stem: (extra py-spy flags, description)
    "web1-pyspy-gil": (["--gil"], "only the thread holding the GIL: where the web's CPU goes"),
    "web1-pyspy-threads": ([], "every non-idle thread, DB waits included: where requests wait"),
}


def spy_start(
    py_spy: str, pid: int, seconds: float, log_dir: Path
) -> list[subprocess.Popen[bytes]]:
    """Attach the recorders of PROFILES to `pid` for `seconds`; wait for them before reporting."""
    spies = []
    for stem, (flags, _) in PROFILES.items():
        argv = [
            py_spy, "record", "-p", str(pid), "-d", str(int(seconds)),
            "-r", "100", "--nonblocking", "-f", "raw", "-o", str(log_dir / f"{stem}.txt"), *flags,
        ]  # fmt: skip
        spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
    return spies


def spy_report(py_spy: str, log_dir: Path) -> None:
    for stem, (_, what) in PROFILES.items():
        raw = log_dir / f"{stem}.txt"
        if not raw.exists():
            print(f"py-spy wrote no {raw} (is {py_spy} installed?); skipped")
            continue
        summary = _profile_summary(raw, what)
        (log_dir / f"{stem}-summary.txt").write_text(summary + "\n")
        print(f"\n-- py-spy, web process 1: {what} ({raw}) --\n{summary}")
