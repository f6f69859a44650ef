"""The rate-limit store in Redis: one Lua script per operation, so each is atomic.

Keys (prefix ``ferry:rl:``): ``s:{key}:{second}`` a counter that expires two minutes after its second,
``st:{key}`` a hash with the penalty and step-down, ``l:{key}`` a hash of slot -> "holder expiry" leases,
``lim:{key}`` the shared concurrency limit; all but the counters expire a day after their last write,
so keys nobody uses any more do not pile up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ferry.ratelimit.store import Claim, KeyState, RateLimitStoreError, redact

PREFIX = "ferry:rl:"

_CLAIM = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant > 0 then
  redis.call('INCRBY', KEYS[1], grant)
  redis.call('EXPIRE', KEYS[1], 120)
else
  grant = 0
end
local st = redis.call('HMGET', KEYS[2], 'until', 'low', 'since')
return {grant, used, st[1] or '0', st[2] or '', st[3] or '0'}
"""

_SLOW_DOWN = """
local now, untl, low = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local old = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if old >= now then
  if untl > old then redis.call('HSET', KEYS[1], 'until', ARGV[2]) end
else
  redis.call('HSET', KEYS[1], 'until', ARGV[2], 'low', low, 'since', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], 86400)
local st = redis.call('HMGET', KEYS[1], 'until', 'low', 'since')
return {st[1] or '0', st[2] or '', st[3] or '0'}
"""

_LEASE = """
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
for slot = 0, limit - 1 do
  local held = redis.call('HGET', KEYS[1], slot)
  local expired = true
  if held then
    local sep = string.find(held, ' ', 1, true)
    expired = tonumber(string.sub(held, sep + 1)) < now
  end
  if expired then
    redis.call('HSET', KEYS[1], slot, ARGV[1] .. ' ' .. (now + tonumber(ARGV[4])))
    redis.call('EXPIRE', KEYS[1], 86400)
    return slot
  end
end
return -1
"""

_RENEW = """
local held = redis.call('HGET', KEYS[1], ARGV[2])
if not held or string.sub(held, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ' ' then return 0 end
if ARGV[3] == 'release' then redis.call('HDEL', KEYS[1], ARGV[2]) return 1 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1] .. ' ' .. ARGV[3])
return 1
"""


class RedisStore:
    """A :class:`~ferry.ratelimit.store.LimitStore` on Redis (redis-py's asyncio client)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, Any] = {}

    async def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            try:
                import redis.asyncio as aioredis
            except ImportError as exc:
                raise RateLimitStoreError(
                    "FERRY_RATE_LIMITS names Redis but the redis package is not installed",
                    hint="pip install 'ferry[redis]'",
                ) from exc
            try:
                client = aioredis.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=10)
                await client.ping()
            except Exception as exc:
                raise self._error(exc) from None
            self._client, self._loop = client, loop
            self._scripts = {
                name: client.register_script(src)
                for name, src in (
                    ("claim", _CLAIM),
                    ("slow", _SLOW_DOWN),
                    ("lease", _LEASE),
                    ("renew", _RENEW),
                )
            }
        return self._client

    async def connect(self) -> None:
        await self._redis()

    def _error(self, exc: Exception) -> RateLimitStoreError:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return RateLimitStoreError(
            f"rate-limit store {redact(self.url)} is not usable: {redact(first)}",
            hint="check FERRY_RATE_LIMITS and that Redis is running",
        )

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        await self._redis()
        try:
            return await self._scripts[name](keys=keys, args=args)
        except Exception as exc:
            raise self._error(exc) from None

    async def claim(self, key: str, second: int, limit: int, want: int) -> Claim:
        grant, used, until, low, since = await self._run(
            "claim", [f"{PREFIX}s:{key}:{second}", f"{PREFIX}st:{key}"], [want, limit]
        )
        state = KeyState(float(until), float(low) if low not in (b"", "") else None, float(since))
        return Claim(int(grant), int(used), state)

    async def slow_down(self, key: str, now: float, until: float, low_rate: float) -> KeyState:
        until_s, low, since = await self._run("slow", [f"{PREFIX}st:{key}"], [now, until, low_rate])
        return KeyState(float(until_s), float(low) if low not in (b"", "") else None, float(since))

    async def lease(self, key: str, holder: str, limit: int, ttl_s: float) -> int | None:
        slot = int(await self._run("lease", [f"{PREFIX}l:{key}"], [holder, time.time(), limit, ttl_s]))
        return None if slot < 0 else slot

    async def renew(self, key: str, holder: str, slot: int, ttl_s: float) -> bool:
        ok = await self._run("renew", [f"{PREFIX}l:{key}"], [holder, slot, time.time() + ttl_s])
        return bool(ok)

    async def release(self, key: str, holder: str, slot: int) -> None:
        await self._run("renew", [f"{PREFIX}l:{key}"], [holder, slot, "release"])

    async def shared_limit(self, key: str, default: int, change: int | None = None) -> int:
        client = await self._redis()
        try:
            if change is not None:
                await client.set(f"{PREFIX}lim:{key}", change, ex=86400)
                return change
            found = await client.get(f"{PREFIX}lim:{key}")
        except Exception as exc:
            raise self._error(exc) from None
        return default if found is None else int(found)

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
