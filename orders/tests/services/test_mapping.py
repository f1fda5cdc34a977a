"""One mapping from an accepted order to its engine command (orders/mapping.py): what live
placement enqueues is what the sweep and the matcher's recovery rebuild from the stored row."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, cast

import redis

from accounts.models import User
from clearing.holds import order_holds_original
from matching.engine import PlaceOrder
from matching.stream import entry_decode, stream_key
from orders.mapping import place_command
from orders.models import Market, Order
from orders.services import order_place

D = Decimal


def test_the_rebuilt_command_is_the_enqueued_one_for_every_order_type(
    market: Market, funded: Callable[..., User], redis_client: redis.Redis
) -> None:
    alice, bob = funded(usdt="100000"), funded(btc="10")
    order_place(user_id=bob.id, symbol="BTCUSDT", side="SELL", type="LIMIT",
                time_in_force="GTC", price=D("50000"), quantity=D("0.5"))  # fmt: skip
    order_place(user_id=alice.id, symbol="BTCUSDT", side="BUY", type="LIMIT",
                time_in_force="GTC", price=D("49000"), quantity=D("0.5"))  # fmt: skip
    redis_client.delete(stream_key("BTCUSDT"))  # only the orders below
    kinds: list[dict[str, Any]] = [
        {"side": "BUY", "type": "LIMIT", "time_in_force": "IOC", "price": D("50000.01"),
         "quantity": D("0.01")},
        {"side": "SELL", "type": "LIMIT_MAKER", "price": D("51000"), "quantity": D("0.01")},
        {"side": "BUY", "type": "MARKET", "quantity": D("0.02")},
        {"side": "BUY", "type": "MARKET", "quote_order_qty": D("100")},
        {"side": "SELL", "type": "MARKET", "quantity": D("0.02")},
        {"side": "SELL", "type": "MARKET", "quote_order_qty": D("100")},
        {"side": "BUY", "type": "STOP_LOSS", "stop_price": D("52000"), "quantity": D("0.01")},
        {"side": "SELL", "type": "TAKE_PROFIT", "stop_price": D("52000"), "quantity": D("0.01")},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "time_in_force": "GTC",
         "stop_price": D("48000"), "price": D("47900"), "quantity": D("0.01")},
        {"side": "BUY", "type": "TAKE_PROFIT_LIMIT", "time_in_force": "FOK",
         "stop_price": D("48000"), "price": D("48100"), "quantity": D("0.01"),
         "stp_mode": "EXPIRE_BOTH"},
    ]  # fmt: skip
    for params in kinds:
        user = alice if params["side"] == "BUY" else bob
        order_place(user_id=user.id, symbol="BTCUSDT", **params)
    entries = cast(
        list[tuple[bytes, dict[bytes, bytes]]], redis_client.xrange(stream_key("BTCUSDT"))
    )
    enqueued = [entry_decode(fields[b"c"])[0] for _, fields in entries]
    assert len(enqueued) == len(kinds)
    ids = [c.order_id for c in enqueued if isinstance(c, PlaceOrder)]
    rows = {o.id: o for o in Order.objects.filter(id__in=ids)}
    holds = order_holds_original(rows)
    for cmd in enqueued:
        assert isinstance(cmd, PlaceOrder)
        row = rows[cmd.order_id]
        assert place_command(row, market, holds[row.id]) == cmd, row.type
