"""POST/PUT/DELETE /api/v3/userDataStream (contract 7.4): listen keys.

Security USER_STREAM, as Binance: the X-MBX-APIKEY header (a key with the read permission), no
timestamp or signature. The socket is /ws/<listenKey> (userdata.consumers).
"""

from __future__ import annotations

from typing import Any

from exchange_site.binance import openapi
from exchange_site.binance.endpoint import Call, Security, endpoint
from exchange_site.binance.errors import ApiError
from exchange_site.binance.openapi import component, obj
from exchange_site.binance.params import Kind, Param, spec
from exchange_site.redis import get_async_redis

from .listenkeys import listen_key_create, listen_key_delete, listen_key_extend
from .publish import user_channel

NO_SUCH_KEY = "This listenKey does not exist."

LISTEN_KEY = component("ListenKey", obj({"listenKey": openapi.STRING}))

LISTEN_KEY_PARAM = Param(
    "listenKey",
    Kind.STR,
    required=True,
    pattern=r"^[A-Za-z0-9]{60}$",
    description="The key POST /api/v3/userDataStream gave.",
)


def _missing() -> ApiError:
    return ApiError(NO_SUCH_KEY, code=-1125)


@endpoint(
    "POST",
    security=Security.USER_STREAM,
    weight=2,
    response=LISTEN_KEY,
    summary="Start a user data stream (listen key)",
    description="Returns the API key's valid listen key, extended by 60 minutes, or a new one."
    " Connect to /ws/<listenKey> for the account's events.",
    tag="User data stream",
)
async def stream_start(call: Call) -> dict[str, Any]:
    key = call.key
    assert key is not None  # USER_STREAM: authenticated by the key header
    listen_key = await listen_key_create(user_id=key.user_id, api_key_id=key.id)
    return {"listenKey": listen_key}


@endpoint(
    "PUT",
    security=Security.USER_STREAM,
    weight=2,
    params=spec(LISTEN_KEY_PARAM),
    response=openapi.EMPTY,
    summary="Keep a listen key alive",
    description="Extends the listen key by 60 minutes; -1125 when it expired or was closed.",
    tag="User data stream",
)
async def stream_keepalive(call: Call) -> dict[str, Any]:
    if not await listen_key_extend(user_id=call.user_id, listen_key=call.params["listenKey"]):
        raise _missing()
    return {}


@endpoint(
    "DELETE",
    security=Security.USER_STREAM,
    weight=2,
    params=spec(LISTEN_KEY_PARAM),
    response=openapi.EMPTY,
    summary="Close a listen key",
    description="Its open sockets receive eventStreamTerminated and are closed.",
    tag="User data stream",
)
async def stream_close(call: Call) -> dict[str, Any]:
    listen_key = call.params["listenKey"]
    if not await listen_key_delete(user_id=call.user_id, listen_key=listen_key):
        raise _missing()
    await get_async_redis().publish(
        user_channel(call.user_id), b'!{"ctl":"lk_off","lk":"' + listen_key.encode() + b'"}'
    )
    return {}


__all__ = ["stream_close", "stream_keepalive", "stream_start"]
