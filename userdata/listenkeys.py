"""Listen keys (contract 7.4): Redis keys with a time to live, one per API key.

`ud:lk:<listen key>` holds "<user id>:<api key id>"; `ud:lkk:<api key id>` names the API key's
listen key. Both expire together after settings.USERDATA_LISTEN_KEY_TTL_S (60 min) unless kept
alive. Creating returns the API key's valid listen key (extended) when it has one, as Binance
does; closing deletes both and tells the open streams (a control message on the user's
channel). Nothing here touches PostgreSQL: a listen key is as durable as Redis.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings

from exchange_site.redis import get_async_redis

LISTEN_KEY_LENGTH = 60  # Binance's length; 60 hex characters here

# KEYS: by-api-key key; ARGV: api key id, user id, a fresh listen key, ttl. Returns the key.
_CREATE = """
local current = redis.call('GET', KEYS[1])
if current then
  local lk = 'ud:lk:' .. current
  if redis.call('EXPIRE', lk, ARGV[4]) == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    return current
  end
end
redis.call('SET', 'ud:lk:' .. ARGV[3], ARGV[2] .. ':' .. ARGV[1], 'EX', ARGV[4])
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
return ARGV[3]
"""

# KEYS: listen key's key; ARGV: user id, ttl. 1 when extended, 0 when missing or foreign.
_EXTEND = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local sep = string.find(v, ':', 1, true)
if string.sub(v, 1, sep - 1) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', 'ud:lkk:' .. string.sub(v, sep + 1), ARGV[2])
return 1
"""

# KEYS: listen key's key; ARGV: user id, the listen key. 1 when deleted.
_DELETE = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local sep = string.find(v, ':', 1, true)
if string.sub(v, 1, sep - 1) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
local by = 'ud:lkk:' .. string.sub(v, sep + 1)
if redis.call('GET', by) == ARGV[2] then redis.call('DEL', by) end
return 1
"""


@dataclass(frozen=True, slots=True)
class ListenKey:
    key: str
    user_id: int
    api_key_id: int


def _lk(listen_key: str) -> str:
    return f"ud:lk:{listen_key}"


def well_formed(listen_key: str) -> bool:
    return len(listen_key) == LISTEN_KEY_LENGTH and listen_key.isalnum() and listen_key.isascii()


async def listen_key_create(*, user_id: int, api_key_id: int) -> str:
    """The API key's listen key, extended by the TTL; a new one when it has none."""
    fresh = secrets.token_hex(LISTEN_KEY_LENGTH // 2)
    ttl = settings.USERDATA_LISTEN_KEY_TTL_S
    key = await get_async_redis().eval(
        _CREATE, 1, f"ud:lkk:{api_key_id}", api_key_id, user_id, fresh, ttl
    )
    return key.decode() if isinstance(key, bytes) else str(key)


async def listen_key_extend(*, user_id: int, listen_key: str) -> bool:
    """Extend the user's listen key by the TTL; False when it does not exist (expired, closed,
    another user's)."""
    if not well_formed(listen_key):
        return False
    ttl = settings.USERDATA_LISTEN_KEY_TTL_S
    done = await get_async_redis().eval(_EXTEND, 1, _lk(listen_key), user_id, ttl)
    return bool(done)


async def listen_key_delete(*, user_id: int, listen_key: str) -> bool:
    """Close the user's listen key; False when it does not exist."""
    if not well_formed(listen_key):
        return False
    done = await get_async_redis().eval(_DELETE, 1, _lk(listen_key), user_id, listen_key)
    return bool(done)


async def listen_key_get(listen_key: str) -> ListenKey | None:
    """The listen key's owner, or None when it does not exist."""
    if not well_formed(listen_key):
        return None
    raw = await get_async_redis().get(_lk(listen_key))
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    user_id, _, api_key_id = text.partition(":")
    return ListenKey(listen_key, int(user_id), int(api_key_id))
