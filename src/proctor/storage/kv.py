"""Short-lived shared state: replay nonces, auth challenges. In-process by default; Redis when
configured, so every replica behind a load balancer sees the same keys."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

# A replay nonce is only as good as the store's memory: a Redis restarted without persistence (or a
# restarted process, for the in-process store) has forgotten every nonce it saw. So a store remembers
# when its memory began, and a signed request timestamped before that is refused like a replay: its
# nonce may have been spent before the store forgot it. Clients re-sign on retry, so an honest request
# caught in flight across the restart costs one retry.
EPOCH_KEY = "nonce-epoch"
# ORO's timestamps are whole seconds and a request takes a moment to arrive: what was signed this long
# before the store's memory began still passes (a replay window this short is not worth an honest
# client's refusal).
EPOCH_GRACE_SECONDS = 2.0

ADD_SINCE = """
local began = tonumber(redis.call('get', KEYS[2]))
if not began then
    redis.call('set', KEYS[2], ARGV[2])
    began = tonumber(ARGV[2])
end
if tonumber(ARGV[3]) < began - tonumber(ARGV[4]) then return 0 end
if redis.call('set', KEYS[1], '1', 'NX', 'PX', tonumber(ARGV[1])) then return 1 end
return 0
"""


class EphemeralStore(Protocol):
    async def add(self, key: str, ttl_seconds: float, *, issued_at: float | None = None) -> bool:
        """Set `key` only if absent (atomically); True when this call created it.

        `issued_at` (unix seconds) is when a signed request says it was made: False too when the
        store's memory began after that (see EPOCH_KEY)."""
        ...

    async def put(self, key: str, value: str, ttl_seconds: float) -> None: ...

    async def take(self, key: str) -> str | None:
        """Get and delete in one step (a value can be consumed once)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """Dict plus an expiry heap; expired keys are purged as a side effect of writes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, began: float | None = None) -> None:
        self._clock = clock
        self.began = time.time() if began is None else began  # this process's memory of nonces
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

    async def add(self, key: str, ttl_seconds: float, *, issued_at: float | None = None) -> bool:
        if issued_at is not None and issued_at < self.began - EPOCH_GRACE_SECONDS:
            return False
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
    def __init__(self, client: aioredis.Redis, prefix: str = "proctor:") -> None:
        self._redis = client
        self._prefix = prefix
        self.round_trips = 0
        self._add_since = client.register_script(ADD_SINCE)

    def full_key(self, key: str) -> str:
        """The Redis key behind `key` (for scripts that set it together with something else)."""
        return self._prefix + key

    async def add(self, key: str, ttl_seconds: float, *, issued_at: float | None = None) -> bool:
        self.round_trips += 1
        if issued_at is None:
            return bool(await self._redis.set(self._prefix + key, "1", nx=True, px=int(ttl_seconds * 1000)))
        keys, args = self.since_args(key, ttl_seconds, issued_at)
        return bool(await self._add_since(keys=keys, args=args))

    def since_args(self, key: str, ttl_seconds: float, issued_at: float) -> tuple[list[str], list[int]]:
        """ADD_SINCE's keys and arguments (the limiter's script appends them to its own)."""
        keys = [self._prefix + key, self._prefix + EPOCH_KEY]
        now_ms, issued_ms = int(time.time() * 1000), int(issued_at * 1000)
        return keys, [int(ttl_seconds * 1000), now_ms, issued_ms, int(EPOCH_GRACE_SECONDS * 1000)]

    async def put(self, key: str, value: str, ttl_seconds: float) -> None:
        await self._redis.set(self._prefix + key, value, px=int(ttl_seconds * 1000))

    async def take(self, key: str) -> str | None:
        value = await self._redis.getdel(self._prefix + key)
        return value.decode() if isinstance(value, bytes) else value

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)  # the pool is shared: closed once, here
