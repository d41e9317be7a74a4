"""The ephemeral store behind replay nonces and challenges, in-process and in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from proctor.storage.kv import EphemeralStore, MemoryStore, RedisStore


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EphemeralStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue("redis_url")
    kv = RedisStore(aioredis.from_url(url), prefix=f"t-{uuid.uuid4().hex}:")
    yield kv
    await kv.close()


async def test_add_is_set_if_absent(store: EphemeralStore) -> None:
    assert await store.add("nonce:a", 10)
    assert not await store.add("nonce:a", 10)
    assert await store.add("nonce:b", 10)


async def test_take_consumes_once(store: EphemeralStore) -> None:
    await store.put("challenge:x", "payload", 10)
    assert await store.take("challenge:x") == "payload"
    assert await store.take("challenge:x") is None
    assert await store.take("challenge:never") is None


async def test_concurrent_adds_have_exactly_one_winner(store: EphemeralStore) -> None:
    results = await asyncio.gather(*(store.add("nonce:race", 10) for _ in range(50)))
    assert results.count(True) == 1


@pytest.mark.redis
async def test_redis_keys_expire(redis_url: str) -> None:
    kv = RedisStore(aioredis.from_url(redis_url), prefix=f"t-{uuid.uuid4().hex}:")
    assert await kv.add("k", 0.2)
    await asyncio.sleep(0.35)
    assert await kv.add("k", 0.2), "an expired nonce can be recorded again"
    await kv.close()


async def test_memory_keys_expire_and_are_purged() -> None:
    clock = Clock()
    kv = MemoryStore(clock=clock)
    for i in range(100):
        await kv.add(f"k{i}", 5)
    await kv.put("v", "x", 5)
    clock.t = 5.1
    assert await kv.take("v") is None
    assert await kv.add("k0", 5)
    assert len(kv._items) == 1, "expired entries are dropped, not kept forever"
