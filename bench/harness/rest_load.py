"""Load client for the Binance-compatible REST API: signed ``POST /api/v3/order`` requests
(form body, HMAC-SHA256 over the raw body, header X-MBX-APIKEY, timestamp + recvWindow) over
keep-alive aiohttp sessions, one per web port (requests go round-robin over the ports; there is
no proxy), in an open loop (`open_loop`: request k is due at t0 + k/rate) or a closed loop
(`closed_loop`: N workers back to back), with the per-phase report.

The order mix: LIMIT orders of `traders[i % N]` for request i, side at random; half of them
resting (GTC, 1-200 ticks away from the mid), half crossing (IOC through the mid by
`cross_ticks`, taking the best resting order of the other side, expiring otherwise).

The same client drives the peer gateway (matching-engine 0.1.1's FastAPI app, `peer=True`): the
same orders in the same sequence, as its JSON `POST /markets/{symbol}/orders` (account = the
trader's user id, no signature: the peer has no authentication).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bench.harness.cpu import cpu_report
from bench.harness.stats import pct

RECV_WINDOW = "10000"
_PEER_HEADERS = {"Content-Type": "application/json"}
DRAIN_S = 10.0  # open loop: how long answers are awaited after the last scheduled start


@dataclass(frozen=True)
class Trader:
    name: str
    user_id: int
    api_key: str
    secret: bytes


@dataclass(frozen=True)
class OrderMix:
    symbol: str
    tick: Decimal  # price of one tick
    mid_ticks: int  # resting orders are priced around this
    cross_ticks: int  # crossing orders are priced this far through the mid
    qty: str


@dataclass
class PhaseResult:
    name: str
    resp_type: str
    offered: float | None  # orders/s; None = closed loop
    duration: float
    sent: int = 0
    ok: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # of the 200 answers
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    fills: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    pg_waits: dict[str, float] = field(default_factory=dict)  # mean backends per state
    late_start_ms: float = 0.0  # open loop: worst lag of the scheduler behind its schedule
    last_answer: float = 0.0  # loop clock


class Load:
    """Signed order requests over keep-alive aiohttp sessions, one per web port."""

    def __init__(
        self,
        ports: list[int],
        traders: list[Trader],
        mix: OrderMix,
        seed: int,
        *,
        peer_symbol: str | None = None,
    ) -> None:
        self.ports, self.traders, self.mix = ports, traders, mix
        self.peer_symbol = peer_symbol  # drive the peer gateway's market of that name
        self.rng = random.Random(seed)
        self.i = 0
        self.sessions: list[Any] = []

    async def open(self, connections_per_port: int) -> None:
        import aiohttp

        await self.close()
        timeout = aiohttp.ClientTimeout(total=30)
        self.sessions = [
            aiohttp.ClientSession(
                base_url=f"http://127.0.0.1:{port}",
                connector=aiohttp.TCPConnector(limit=connections_per_port, keepalive_timeout=60),
                timeout=timeout,
                skip_auto_headers=("User-Agent",),
            )
            for port in self.ports
        ]

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        self.sessions = []

    def next_request(self, resp_type: str) -> tuple[int, Trader, bytes, str, dict[str, str]]:
        i = self.i
        self.i += 1
        trader = self.traders[i % len(self.traders)]
        mix = self.mix
        buy = self.rng.random() < 0.5
        if self.rng.random() < 0.5:  # resting: GTC, 1-200 ticks behind the mid
            away = self.rng.randint(1, 200)
            ticks = mix.mid_ticks - away if buy else mix.mid_ticks + away
            tif = "GTC"
        else:  # crossing: IOC through the mid, takes the best resting order of the other side
            ticks = mix.mid_ticks + mix.cross_ticks if buy else mix.mid_ticks - mix.cross_ticks
            tif = "IOC"
        price = mix.tick * ticks
        if self.peer_symbol is not None:
            order = {
                "account": trader.user_id, "side": "buy" if buy else "sell", "type": "limit",
                "price": str(price), "quantity": mix.qty, "time_in_force": tif.lower(),
            }  # fmt: skip
            path = f"/markets/{self.peer_symbol}/orders"
            return i, trader, json.dumps(order).encode(), path, _PEER_HEADERS
        body = (
            f"symbol={mix.symbol}&side={'BUY' if buy else 'SELL'}&type=LIMIT&timeInForce={tif}"
            f"&quantity={mix.qty}&price={price}&newOrderRespType={resp_type}"
            f"&timestamp={time.time_ns() // 1_000_000}&recvWindow={RECV_WINDOW}"
        ).encode()
        sig = hmac.new(trader.secret, body, hashlib.sha256).hexdigest()
        headers = {
            "X-MBX-APIKEY": trader.api_key,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return i, trader, body + b"&signature=" + sig.encode(), "/api/v3/order", headers

    async def send(
        self, resp_type: str, res: PhaseResult, t_ref: float, gate: asyncio.Semaphore | None = None
    ) -> None:
        """One request; its latency is measured from t_ref (loop clock). `gate` (open loop)
        bounds the requests in flight to the connection pool, so that the timestamp is signed
        when the request can go out (not before queueing for a connection: -1021)."""
        import aiohttp

        if gate is not None:
            await gate.acquire()
        try:
            i, _, data, path, headers = self.next_request(resp_type)
            session = self.sessions[i % len(self.sessions)]
            res.sent += 1
            try:
                async with session.post(path, data=data, headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                res.errors[f"client: {type(exc).__name__}"] += 1
                return
        finally:
            if gate is not None:
                gate.release()
        now = asyncio.get_running_loop().time()
        res.last_answer = max(res.last_answer, now)
        try:
            body = json.loads(raw)
        except ValueError:
            res.errors[f"http {status} (not JSON)"] += 1
            return
        if status == 200 and "orderId" in body:
            res.ok += 1
            res.latencies_ms.append((now - t_ref) * 1000.0)
            if "status" in body:
                res.statuses[body["status"]] += 1
                res.fills += len(body.get("fills", ()))
        elif status == 200 and "order_id" in body:  # the peer gateway's answer
            res.ok += 1
            res.latencies_ms.append((now - t_ref) * 1000.0)
            res.statuses[body.get("status", "?")] += 1
            res.fills += sum(1 for e in body.get("events", ()) if e.get("type") == "trade")
        else:
            res.errors[f"http {status} code {body.get('code')}: {body.get('msg')}"] += 1


async def open_loop(
    load: Load, rate: float, seconds: float, resp_type: str, name: str, connections: int
) -> PhaseResult:
    """Request k starts at t0 + k/rate (open loop). Accepted orders/s = answers / (last answer
    - t0): equal to the rate when the stack keeps up, its capacity when it does not. Requests
    not answered DRAIN_S after the last scheduled start are cancelled and counted."""
    loop = asyncio.get_running_loop()
    n = int(rate * seconds)
    res = PhaseResult(name, resp_type, rate, seconds)
    gate = asyncio.Semaphore(connections * len(load.sessions))
    tasks: set[asyncio.Task[None]] = set()
    t0 = loop.time() + 0.01
    for k in range(n):
        due = t0 + k / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            res.late_start_ms = max(res.late_start_ms, -delay * 1000)
        task = asyncio.create_task(load.send(resp_type, res, due, gate))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=DRAIN_S)
        for task in pending:
            task.cancel()
        if pending:
            res.errors[f"unanswered {DRAIN_S:.0f} s after the last start (cancelled)"] += len(
                pending
            )
            await asyncio.wait(pending)
    res.duration = max(seconds, (res.last_answer or loop.time()) - t0)
    return res


async def closed_loop(
    load: Load, concurrency: int, seconds: float, resp_type: str, name: str
) -> PhaseResult:
    """`concurrency` workers send back to back for `seconds`; only answers that arrive inside
    the window count (the counters are snapshotted at its end)."""
    loop = asyncio.get_running_loop()
    res = PhaseResult(name, resp_type, None, seconds)
    t_end = loop.time() + seconds

    async def worker() -> None:
        while loop.time() < t_end:
            await load.send(resp_type, res, loop.time())

    async def stopwatch() -> PhaseResult:
        await asyncio.sleep(max(0.0, t_end - loop.time()))
        out = PhaseResult(name, resp_type, None, seconds)
        out.ok, out.sent, out.fills = res.ok, res.sent, res.fills
        out.latencies_ms = list(res.latencies_ms)
        out.errors, out.statuses = (
            collections.Counter(res.errors),
            collections.Counter(res.statuses),
        )
        return out

    window = asyncio.create_task(stopwatch())
    await asyncio.gather(window, *(worker() for _ in range(concurrency)))
    return window.result()


def phase_report(res: PhaseResult) -> None:
    """Print a phase: rates, errors by code, order statuses, latency percentiles, CPU."""
    lat = sorted(res.latencies_ms)
    offered = f"{res.offered:.0f} orders/s (open loop)" if res.offered else "closed loop"
    print(f"\n== {res.name} [{res.resp_type}] ==")
    print(f"offered rate:      {offered}")
    print(f"sent:              {res.sent}; answers over {res.duration:.1f} s")
    print(f"accepted orders/s: {res.ok / res.duration:.1f}  ({res.ok} HTTP 200)")
    print(f"errors:            {sum(res.errors.values())}")
    for what, n in res.errors.most_common():
        print(f"  {n:7d}  {what}")
    if res.statuses:
        statuses = ", ".join(f"{k} {v}" for k, v in res.statuses.most_common())
        print(f"order status:      {statuses}; fills {res.fills}")
    print(
        f"latency ms:        p50 {pct(lat, 0.50):.1f}  p90 {pct(lat, 0.90):.1f}"
        f"  p99 {pct(lat, 0.99):.1f}  max {lat[-1] if lat else float('nan'):.1f}"
    )
    if res.offered:
        print(f"scheduler lag:     max {res.late_start_ms:.1f} ms behind schedule")
    if res.cpu:
        cpu_report(res.cpu, res.pg_waits, n=res.ok, unit="accepted order")
