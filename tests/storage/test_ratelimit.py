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


async def test_in_process_a_burst_across_a_minute_boundary_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two requests just before a clock minute and one just after: three in under a second, refused.
    (`limits`' in-process sliding-window counter, aligned to the clock and rounding its weighted count
    down, let the third through.)"""
    import limits.aio.storage.memory as memory

    clock = [6_000_059.8]
    monkeypatch.setattr(memory.time, "time", lambda: clock[0])
    limiter = RateLimiter.from_url(None)
    assert (await limiter.hit("2/minute", "ip", "a")).allowed
    assert (await limiter.hit("2/minute", "ip", "a")).allowed
    clock[0] = 6_000_060.2
    refused = await limiter.hit("2/minute", "ip", "a")
    assert not refused.allowed and 1 <= refused.retry_after <= 60
    clock[0] = 6_000_120.0  # a minute after the first two: one more is allowed
    assert (await limiter.hit("2/minute", "ip", "a")).allowed
