"""The command stream between the web (producer) and the matcher (consumer).

One Redis stream per market, `stream:orders:{SYMBOL}`, consumer group `matcher`. Each entry has
one field `c`: a compact JSON array encoding one engine command plus an optional request id
(`rid`) that a waiting web request blocks on (see orders.verdicts). Units are the engine's
integers (ticks, lots, quote units = ticks * lots).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
import redis

from matching.engine import (
    AmendOrder,
    CancelAll,
    CancelOrder,
    CancelReplace,
    DoneReason,
    MarketState,
    OrderType,
    PlaceOrder,
    SetMarketState,
    Side,
    STPMode,
    TimeInForce,
)
from matching.engine.commands import Command


class ReloadMarket(NamedTuple):
    """Adapter command (not the engine's): re-read the market's configuration (symbol, assets,
    tick, step, shard) from PostgreSQL at this point of the stream. Enqueued after a change of
    those fields, which requires the market to have no open order."""


class ApplyFees(NamedTuple):
    """Adapter command: trades after this point of the stream pay these rates (fractions, as
    decimal strings); `change_id` is the orders.MarketFeeChange row it applies."""

    change_id: int
    maker_fee: str
    taker_fee: str


# Everything a market's stream carries: engine commands and the matcher's own.
StreamCommand = Command | ReloadMarket | ApplyFees

GROUP = "matcher"
# The matcher trims each stream up to what it has committed (and is older than its retention);
# this cap only guards memory when no matcher runs for a long time (the sweep re-enqueues
# anything trimmed unread).
MAXLEN = 2_000_000


def stream_key(symbol: str) -> str:
    return f"stream:orders:{symbol}"


def stream_epoch_key(symbol: str) -> str:
    """The stream's epoch: a token the matcher sets whenever it creates the consumer group, i.e.
    once per life of the stream key. A Redis loss (flush, restart without persistence, a deleted
    stream) gives a new epoch; entry ids of different epochs are never compared."""
    return f"stream:epoch:{symbol}"


def stream_epoch_read(client: redis.Redis, symbol: str) -> str:
    raw = client.get(stream_epoch_key(symbol))
    return raw.decode() if isinstance(raw, bytes) else ""


def _place_fields(cmd: PlaceOrder) -> list[int]:
    return [
        cmd.order_id,
        cmd.owner_id,
        int(cmd.side),
        int(cmd.type),
        int(cmd.tif),
        cmd.price_ticks,
        cmd.qty_lots,
        cmd.quote_qty,
        cmd.stop_price_ticks,
        int(cmd.stp),
    ]


# Dict probes instead of enum calls: decoding runs once per command on the matcher's hot path.
_SIDE: dict[int, Side] = {m.value: m for m in Side}
_TYPE: dict[int, OrderType] = {m.value: m for m in OrderType}
_TIF: dict[int, TimeInForce] = {m.value: m for m in TimeInForce}
_STP: dict[int, STPMode] = {m.value: m for m in STPMode}


def _place_from(f: list[int]) -> PlaceOrder:
    for i in (0, 1, 5, 6, 7, 8):
        if type(f[i]) is not int:
            raise TypeError(f"field {i} is not an integer")
    return PlaceOrder(
        f[0], f[1], _SIDE[f[2]], _TYPE[f[3]], _TIF[f[4]], f[5], f[6], f[7], f[8], _STP[f[9]]
    )


def command_encode(cmd: StreamCommand, rid: str | None = None) -> str:
    body: list[Any]
    if isinstance(cmd, PlaceOrder):
        body = ["P", *_place_fields(cmd)]
    elif isinstance(cmd, CancelOrder):
        body = ["C", cmd.order_id, cmd.owner_id]
    elif isinstance(cmd, AmendOrder):
        body = ["A", cmd.order_id, cmd.owner_id, cmd.new_qty_lots, cmd.new_price_ticks]
    elif isinstance(cmd, CancelReplace):
        body = ["R", cmd.cancel_order_id, cmd.owner_id, _place_fields(cmd.place)]
    elif isinstance(cmd, CancelAll):
        body = ["X", cmd.owner_id, int(cmd.reason)]
    elif isinstance(cmd, SetMarketState):
        body = ["S", int(cmd.state)]
    elif isinstance(cmd, ReloadMarket):
        body = ["L"]
    elif isinstance(cmd, ApplyFees):
        body = ["F", cmd.change_id, cmd.maker_fee, cmd.taker_fee]
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"unknown command {cmd!r}")
    return json.dumps([rid, *body], separators=(",", ":"))


def command_decode(raw: bytes | str) -> tuple[Command, str | None]:
    """Decode one entry; raises ValueError (or KeyError/IndexError/TypeError) when malformed."""
    data = orjson.loads(raw)
    rid, op, rest = data[0], data[1], data[2:]
    cmd: Command
    if op == "P":
        cmd = _place_from(rest)
    elif op == "C":
        cmd = CancelOrder(int(rest[0]), int(rest[1]))
    elif op == "A":
        cmd = AmendOrder(int(rest[0]), int(rest[1]), int(rest[2]), int(rest[3]))
    elif op == "R":
        cmd = CancelReplace(int(rest[0]), int(rest[1]), _place_from(rest[2]))
    elif op == "X":
        cmd = CancelAll(None if rest[0] is None else int(rest[0]), DoneReason(rest[1]))
    elif op == "S":
        cmd = SetMarketState(MarketState(rest[0]))
    else:
        raise ValueError(f"unknown op {op!r}")
    return cmd, rid


def entry_decode(raw: bytes | str) -> tuple[StreamCommand, str | None]:
    """Decode one entry, the matcher's own commands included (command_decode: engine only)."""
    data = orjson.loads(raw)
    if data[1] == "L":
        return ReloadMarket(), data[0]
    if data[1] == "F":
        return ApplyFees(int(data[2]), str(data[3]), str(data[4])), data[0]
    return command_decode(raw)


def commands_enqueue(
    client: redis.Redis,
    symbol: str,
    items: Sequence[tuple[StreamCommand, str | None]],
    requests: list[str | None] | None = None,
) -> None:
    """XADD commands in order, in one round trip. Call only after the DB commit (on_commit).

    `requests[i]`, when given, is the key of item i's persisted matching.EngineRequest (stream
    field `q`): the matcher applies such a command once and marks it applied."""
    if not items:
        return
    pipe = client.pipeline(transaction=False)
    for i, (cmd, rid) in enumerate(items):
        _xadd(pipe, symbol, cmd, rid, requests[i] if requests else None)
    pipe.execute()


def commands_enqueue_markets(
    client: redis.Redis, items: Sequence[tuple[str, StreamCommand, str | None]]
) -> None:
    """XADD (symbol, command, request id) items of any markets in order, in one round trip (the
    orders one group commit accepted). Call only after the DB commit."""
    if not items:
        return
    pipe = client.pipeline(transaction=False)
    for symbol, cmd, rid in items:
        _xadd(pipe, symbol, cmd, rid, None)
    pipe.execute()


def _xadd(
    pipe: redis.client.Pipeline,
    symbol: str,
    cmd: StreamCommand,
    rid: str | None,
    request: str | None,
) -> None:
    fields: dict[str, str] = {"c": command_encode(cmd, rid)}
    if request:
        fields["q"] = request
    pipe.xadd(stream_key(symbol), fields, maxlen=MAXLEN, approximate=True)  # type: ignore[arg-type]


def command_resend(client: redis.Redis, symbol: str, body: str, request: str) -> None:
    """XADD an already encoded persisted command again (the stream sweep)."""
    fields: dict[str, str] = {"c": body, "q": request}
    client.xadd(stream_key(symbol), fields, maxlen=MAXLEN, approximate=True)  # type: ignore[arg-type]
