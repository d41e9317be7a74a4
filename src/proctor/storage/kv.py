"""Short-lived shared state: replay nonces, auth challenges. In-process by default; Redis when
configured, so every replica behind a load balancer sees the same keys."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

from proctor.storage.redis_calls import RedisCalls


class EphemeralStore(Protocol):
    async def add(self, key: str, ttl_seconds: float) -> bool:
        """Set `key` only if absent (atomically); True when this call created it."""
        ...

    async def put(self, key: str, value: str, ttl_seconds: float) -> None: ...

    async def take(self, key: str) -> str | None:
        """Get and delete in one step (a value can be consumed once)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Dict plus an expiry heap; expired keys are purged as a side effect of writes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: dict[str, tuple[float, str]] = {}
        self._expiry: list[tuple[float, str]] = []

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            expires, key = heapq.heappop(self._expiry)
            item = self._items.get(key)
            if item is not None and item[0] <= now:
                del self._items[key]

    def _live(self, key: str, now: float) -> tuple[float, str] | None:
        item = self._items.get(key)
        return item if item is not None and item[0] > now else None

    async def add(self, key: str, ttl_seconds: float) -> bool:
        now = self._clock()
        self._purge(now)
        if self._live(key, now) is not None:
            return False
        self._set(key, "1", now + ttl_seconds)
        return True

    async def put(self, key: str, value: str, ttl_seconds: float) -> None:
        now = self._clock()
        self._purge(now)
        self._set(key, value, now + ttl_seconds)

    def _set(self, key: str, value: str, expires: float) -> None:
        self._items[key] = (expires, value)
        heapq.heappush(self._expiry, (expires, key))

    async def take(self, key: str) -> str | None:
        item = self._live(key, self._clock())
        self._items.pop(key, None)
        return item[1] if item else None

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._items.clear()
        self._expiry.clear()


class RedisStore:
    def __init__(
        self, client: aioredis.Redis, prefix: str = "proctor:", *, calls: RedisCalls | None = None
    ) -> None:
        self._redis = client
        # Replay-nonce writes are on hot paths: they go through the lean caller, on the same server.
        self.calls = calls or RedisCalls.beside(client.connection_pool)
        self._prefix = prefix
        self.round_trips = 0

    def full_key(self, key: str) -> str:
        """The Redis key behind `key` (for scripts that set it together with something else)."""
        return self._prefix + key

    async def add(self, key: str, ttl_seconds: float) -> bool:
        self.round_trips += 1
        reply = await self.calls.execute("SET", self._prefix + key, "1", "NX", "PX", int(ttl_seconds * 1000))
        return reply is not None

    async def put(self, key: str, value: str, ttl_seconds: float) -> None:
        await self._redis.set(self._prefix + key, value, px=int(ttl_seconds * 1000))

    async def take(self, key: str) -> str | None:
        value = await self._redis.getdel(self._prefix + key)
        return value.decode() if isinstance(value, bytes) else value

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self.calls.close()
        await self._redis.aclose(close_connection_pool=True)  # the pool is shared: closed once, here
