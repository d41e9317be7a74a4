"""Rate limiting on the `limits` library: sliding-window counters, in-process or in Redis."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter


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

    def __init__(self, storage: Storage) -> None:
        # `limits` keeps only a weak reference to its storage, so this object owns it.
        self.storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    @classmethod
    def from_url(cls, redis_url: str | None, *, connection_pool: Any = None) -> RateLimiter:
        """In-process without a URL; on Redis otherwise, on the process's shared pool when given one."""
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            options = {"connection_pool": connection_pool} if connection_pool is not None else {}
            return cls(RedisStorage(uri, implementation="redispy", key_prefix="proctor-rl", **options))
        return cls(MemoryStorage())

    async def hit(self, spec: str, *identifiers: str) -> Decision:
        """Count one request against `spec` for `identifiers`; report whether it may proceed."""
        item = parse_limit(spec)
        if await self._strategy.hit(item, *identifiers):
            return Decision(allowed=True, limit=item, retry_after=0)
        # Only a refused request pays for the second round trip.
        stats = await self._strategy.get_window_stats(item, *identifiers)
        return Decision(
            allowed=False, limit=item, retry_after=max(1, math.ceil(stats.reset_time - time.time()))
        )

    async def peek(self, spec: str, *identifiers: str) -> Decision:
        """Would one more request be allowed? Counts nothing."""
        item = parse_limit(spec)
        if await self._strategy.test(item, *identifiers):
            return Decision(allowed=True, limit=item, retry_after=0)
        stats = await self._strategy.get_window_stats(item, *identifiers)
        return Decision(
            allowed=False, limit=item, retry_after=max(1, math.ceil(stats.reset_time - time.time()))
        )

    async def clear(self, spec: str, *identifiers: str) -> None:
        await self._strategy.clear(parse_limit(spec), *identifiers)
