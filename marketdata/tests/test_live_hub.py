"""The fan-out hub in-process, on the real Redis: one subscription per channel whatever the
number of clients, the same frames to each, bounded outboxes, a resync on an update-id gap."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
import redis
from django.conf import settings

from marketdata.feedbus import market_channel
from marketdata.live import CLOSE_SLOW, Hub, Subscriber
from marketdata.live.metrics import DROPPED
from marketdata.live.streams import register_market_streams
from orders.models import Market

pytestmark = pytest.mark.django_db(transaction=True)


def _hub() -> Hub:
    hub = Hub(settings.REDIS_URL, queue_limit=100)
    register_market_streams(hub)
    return hub


async def _frames(sub: Subscriber, timeout: float = 3) -> list[Any]:
    return [json.loads(t) for t in await asyncio.wait_for(sub.get(), timeout)]


def _publish(client: redis.Redis, message: dict[str, Any]) -> None:
    client.publish(market_channel("BTCUSDT"), orjson.dumps(message))


def test_one_redis_subscription_per_channel_and_the_same_frames_to_all(
    market: Market, redis_client: redis.Redis
) -> None:
    channel = market_channel("BTCUSDT")

    async def main() -> None:
        hub = _hub()
        subs = [hub.attach() for _ in range(3)]
        for sub in subs[:2]:
            await hub.subscribe(sub, "btcusdt@trade")
        await hub.subscribe(subs[2], "btcusdt@depth@100ms")
        await hub.subscribe(subs[2], "btcusdt@aggTrade")
        assert redis_client.pubsub_numsub(channel) == [(channel.encode(), 1)]
        # price 5000000 ticks of 0.01 = 50000; 400 lots of 0.00001 = 0.004
        _publish(redis_client, {"c": 1.0, "T": 1000, "U": 1, "u": 2, "b": [[4990000, 100]],
                                "a": [], "t": [[7, 5000000, 400, False]]})  # fmt: skip
        first, second = await _frames(subs[0]), await _frames(subs[1])
        assert first == second and len(first) == 1
        assert first[0] | {"E": 0} == {
            "e": "trade", "E": 0, "s": "BTCUSDT", "t": 7, "p": "50000.00000000",
            "q": "0.00400000", "T": 1000, "m": False, "M": True,
        }  # fmt: skip
        agg = await _frames(subs[2])
        assert agg[0]["e"] == "aggTrade" and agg[0]["a"] == agg[0]["f"] == agg[0]["l"] == 7
        depth = await _frames(subs[2])  # after the 100 ms window
        assert depth[0]["e"] == "depthUpdate" and (depth[0]["U"], depth[0]["u"]) == (1, 2)
        assert depth[0]["b"] == [["49900.00000000", "0.00100000"]]
        # A gap in the update ids: the depth subscriber must resync (closed); the others stay.
        _publish(redis_client, {"c": 1.0, "U": 5, "u": 5, "b": [], "a": [[5010000, 0]]})
        await asyncio.wait_for(subs[2].get(), 3)
        assert subs[2].closed == CLOSE_SLOW
        assert subs[0].closed is None and subs[1].closed is None
        # The last subscriber leaving drops the process's Redis subscription.
        for sub in subs:
            hub.detach(sub)
        for _ in range(50):
            await asyncio.sleep(0.02)
            if redis_client.pubsub_numsub(channel) == [(channel.encode(), 0)]:
                break
        assert redis_client.pubsub_numsub(channel) == [(channel.encode(), 0)]
        await hub.aclose()

    asyncio.run(main())


def test_a_full_outbox_closes_that_subscriber_only(
    market: Market, redis_client: redis.Redis
) -> None:
    async def main() -> None:
        hub = _hub()
        slow, fast = hub.attach(limit=2), hub.attach()
        for sub in (slow, fast):
            await hub.subscribe(sub, "btcusdt@trade")
        dropped = DROPPED._value.get()
        trades = [[i, 5000000, 100, True] for i in range(1, 4)]
        _publish(redis_client, {"c": 1.0, "t": trades})
        got = await _frames(fast)
        assert [f["t"] for f in got] == [1, 2, 3]
        assert await asyncio.wait_for(slow.get(), 3) == []  # closed, never a gap
        assert slow.closed == CLOSE_SLOW
        assert DROPPED._value.get() == dropped + 1
        await hub.aclose()

    asyncio.run(main())
