"""Rate limiting on the `limits` library: a moving window in-process, sliding-window counters in Redis.

In-process, the limiter keeps each request's time (`limits`' moving window): exact, and a few hundred
floats per busy key at most on one node. Its sliding-window counter would be cheaper, but its windows
are aligned to the clock and its weighted count is rounded down, so a burst straddling a window
boundary could pass `limit + 1` requests (three of "2/minute" within a second). In Redis each window
starts with its key's first request (see HIT_AND_ADD), so a fresh burst never straddles one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis.asyncio as aioredis
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import (
    RateLimiter as LimitsStrategy,
)

from proctor.storage.kv import EphemeralStore, RedisStore
from proctor.storage.redis_calls import RedisCalls, Script

KEY_PREFIX = "proctor-rl"

# The sliding-window counter of `limits` (its Redis storage keys a limit as "{key}" for the current
# window and "{key}/-1" for the previous one, times in ms), optionally followed by SET NX PX of a replay
# key (a third key), in one script: a signed request's global limit and its nonce cost one Redis round
# trip instead of two. The window arithmetic is the same as `limits`' own script, so windows read
# through the library (the retry time of a refused request, `peek`) are the ones counted here.
HIT_AND_ADD = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end
local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = tonumber(redis.call('pttl', KEYS[1])) or 0
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
if previous_ttl <= 0 then previous_ttl = 0 end
if math.floor(previous_count * previous_ttl / expiry) + current_count + 1 > limit then
    return {0, 1}
end
if redis.call('exists', KEYS[2]) == 1 then
    redis.call('incrby', KEYS[2], 1)
else
    redis.call('set', KEYS[2], 1, 'PX', expiry * 2)
end
if #KEYS < 3 then return {1, 1} end
local fresh = redis.call('set', KEYS[3], '1', 'NX', 'PX', tonumber(ARGV[3]))
if fresh then return {1, 1} end
return {1, 0}
"""
_HIT_AND_ADD = Script(HIT_AND_ADD)


@lru_cache(maxsize=256)
def parse_limit(spec: str) -> RateLimitItem:
    """Parse "100/minute", "10 per second", …; ValueError on nonsense."""
    return parse(spec)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: RateLimitItem
    retry_after: int  # whole seconds until a request would be allowed again (0 when allowed)


class RateLimiter:
    """One limiter for the process; keys are namespaced by the caller ("ip:1.2.3.4", "hotkey:5F…")."""

    def __init__(self, storage: Storage, *, calls: RedisCalls | None = None) -> None:
        # `limits` keeps only a weak reference to its storage, so this object owns it.
        self.storage = storage
        self._strategy: LimitsStrategy = (
            MovingWindowRateLimiter(storage)
            if isinstance(storage, MemoryStorage)
            else SlidingWindowCounterRateLimiter(storage)
        )
        self._calls = calls  # counting on Redis: the scripts above, through the lean caller
        self.round_trips = 0  # Redis calls made by this limiter (/metrics shows them)

    @classmethod
    def from_url(
        cls, redis_url: str | None, *, connection_pool: Any = None, calls: RedisCalls | None = None
    ) -> RateLimiter:
        """In-process without a URL; on Redis otherwise, on the process's shared pool when given one."""
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            if connection_pool is None:
                connection_pool = aioredis.BlockingConnectionPool.from_url(redis_url)
            storage = RedisStorage(
                uri, implementation="redispy", key_prefix=KEY_PREFIX, connection_pool=connection_pool
            )
            return cls(storage, calls=calls or RedisCalls.beside(connection_pool))
        return cls(MemoryStorage())

    def _window_keys(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> list[str]:
        current = f"{KEY_PREFIX}:{{{item.key_for(*identifiers)}}}"
        return [current + "/-1", current]

    async def _refused(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> Decision:
        # Only a refused request pays for the second round trip.
        stats = await self._strategy.get_window_stats(item, *identifiers)
        return Decision(
            allowed=False, limit=item, retry_after=max(1, math.ceil(stats.reset_time - time.time()))
        )

    async def hit_and_add(
        self, spec: str, identifiers: tuple[str, ...], *, store: EphemeralStore, key: str, ttl_seconds: float
    ) -> tuple[Decision, bool]:
        """Count one request against `spec` and, if allowed, set `key` in `store` only if absent.

        The edge of a signed request: its global limit and its replay nonce. On Redis both happen in
        one script, one round trip (see HIT_AND_ADD); in-process they are two local calls. Returns the
        decision and whether the key was new (False: a replay). A refused request adds nothing.
        """
        if self._calls is None or not isinstance(store, RedisStore):
            decision = await self.hit(spec, *identifiers)
            return decision, (await store.add(key, ttl_seconds)) if decision.allowed else True
        item = parse_limit(spec)
        self.round_trips += 1
        allowed, fresh = await self._calls.run_script(
            _HIT_AND_ADD,
            [*self._window_keys(item, identifiers), store.full_key(key)],
            [item.amount, item.get_expiry(), int(ttl_seconds * 1000)],
        )
        if allowed:
            return Decision(allowed=True, limit=item, retry_after=0), bool(fresh)
        return await self._refused(item, identifiers), True

    async def hit(self, spec: str, *identifiers: str) -> Decision:
        """Count one request against `spec` for `identifiers`; report whether it may proceed."""
        item = parse_limit(spec)
        if self._calls is None:
            allowed = await self._strategy.hit(item, *identifiers)
        else:
            self.round_trips += 1
            allowed, _ = await self._calls.run_script(
                _HIT_AND_ADD, self._window_keys(item, identifiers), [item.amount, item.get_expiry()]
            )
        if allowed:
            return Decision(allowed=True, limit=item, retry_after=0)
        return await self._refused(item, identifiers)

    async def peek(self, spec: str, *identifiers: str) -> Decision:
        """Would one more request be allowed? Counts nothing."""
        item = parse_limit(spec)
        if await self._strategy.test(item, *identifiers):
            return Decision(allowed=True, limit=item, retry_after=0)
        return await self._refused(item, identifiers)

    async def clear(self, spec: str, *identifiers: str) -> None:
        await self._strategy.clear(parse_limit(spec), *identifiers)
