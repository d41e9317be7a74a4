"""Rate-limit decisions on the `limits` library, in-process and in Redis."""

from __future__ import annotations

import uuid

import pytest

from proctor.storage.ratelimit import RateLimiter, parse_limit


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return RateLimiter.from_url(None)
    return RateLimiter.from_url(request.getfixturevalue("redis_url"))


async def test_allows_up_to_the_limit_then_refuses_with_retry_after(limiter: RateLimiter) -> None:
    who = uuid.uuid4().hex
    decisions = [await limiter.hit("3/minute", "ip", who) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 1 <= decisions[-1].retry_after <= 60


async def test_identifiers_are_independent(limiter: RateLimiter) -> None:
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    assert (await limiter.hit("1/minute", "hotkey", a)).allowed
    assert not (await limiter.hit("1/minute", "hotkey", a)).allowed
    assert (await limiter.hit("1/minute", "hotkey", b)).allowed


@pytest.mark.redis
async def test_two_limiters_on_one_redis_share_counts(redis_url: str) -> None:
    """Two replicas must not each grant the full allowance."""
    who = uuid.uuid4().hex
    one, two = RateLimiter.from_url(redis_url), RateLimiter.from_url(redis_url)
    assert (await one.hit("2/minute", "ip", who)).allowed
    assert (await two.hit("2/minute", "ip", who)).allowed
    assert not (await one.hit("2/minute", "ip", who)).allowed


def test_limit_notation() -> None:
    assert parse_limit("100/minute").amount == 100
    assert parse_limit("10 per second").amount == 10
    with pytest.raises(ValueError):
        parse_limit("lots")


@pytest.mark.redis
async def test_the_signed_edge_refuses_a_replay_across_a_redis_restart(redis_url: str) -> None:
    """The one-round-trip limit + nonce script keeps the store's epoch rule (see kv.EPOCH_KEY)."""
    import asyncio
    import time

    import redis.asyncio as aioredis

    from proctor.storage.kv import EPOCH_GRACE_SECONDS, RedisStore

    prefix = f"t-{uuid.uuid4().hex}:"
    client = aioredis.from_url(redis_url)
    store = RedisStore(client, prefix=prefix)
    limiter = RateLimiter.from_url(redis_url)
    ip = ("ip", f"198.51.100.{uuid.uuid4().int % 250}")
    signed = time.time()

    async def edge(nonce: str, issued_at: float) -> bool:
        decision, fresh = await limiter.hit_and_add(
            "1000/minute", ip, store=store, key=nonce, ttl_seconds=60, issued_at=issued_at
        )
        assert decision.allowed
        return fresh

    assert await edge("nonce:a", signed)
    assert not await edge("nonce:a", signed), "a replay"
    await client.delete(*[key async for key in client.scan_iter(match=prefix + "*")])
    await asyncio.sleep(EPOCH_GRACE_SECONDS + 0.2)
    assert not await edge("nonce:a", signed), "the same replay once Redis forgot the nonce"
    assert await edge("nonce:b", time.time())
    await store.close()
