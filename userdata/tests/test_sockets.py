"""The user data sockets in-process (Channels' communicator) on real Redis and PostgreSQL: what
cannot be provoked through a real server, a client too slow for its queue."""

from __future__ import annotations

import asyncio

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import override_settings
from prometheus_client import REGISTRY

from accounts.services import api_key_issue
from accounts.tests.factories import UserFactory
from exchange_site.redis import async_redis_close
from userdata.hub import get_hub, hub_close
from userdata.listenkeys import listen_key_create
from userdata.publish import user_channel
from userdata.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)


def _slow_closed() -> float:
    return REGISTRY.get_sample_value("exchange_userdata_slow_closed_total") or 0.0


@override_settings(USERDATA_QUEUE_MAX=3, USERDATA_KEY_CHECK_S=60)
def test_a_client_too_slow_for_its_queue_is_closed_not_fed_a_gap(redis_client: object) -> None:
    user = UserFactory.create()
    key, _ = api_key_issue(user=user, permissions=["read"])
    before = _slow_closed()

    async def scenario() -> None:
        listen_key = await listen_key_create(user_id=user.pk, api_key_id=key.pk)
        ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/{listen_key}")
        connected, _ = await ws.connect()
        assert connected
        hub = get_hub()
        assert hub.subscribers(user_channel(user.pk)) == 1
        (socket,) = hub._subs[user_channel(user.pk).encode()]
        # Four events arrive before the socket's sender gets a turn: the queue holds three.
        for n in range(4):
            socket.deliver(b'{"e":"test","n":%d}' % n)
        outputs = []
        while True:
            out = await ws.receive_output(timeout=5)
            outputs.append(out)
            if out["type"] == "websocket.close":
                break
        assert outputs[-1]["code"] == 4008
        sent = [o["text"] for o in outputs if o["type"] == "websocket.send"]
        assert sent == [f'{{"e":"test","n":{n}}}' for n in range(len(sent))] and len(sent) <= 3
        await ws.disconnect()
        await asyncio.sleep(0.05)
        assert hub.subscribers(user_channel(user.pk)) == 0  # the channel is let go
        await hub_close()
        await async_redis_close()

    asyncio.run(scenario())
    assert _slow_closed() == before + 1
