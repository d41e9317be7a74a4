"""The lean Redis caller of the hot paths: pipelined on one connection, each reply reaches its own
caller (also after a caller gave up), a dead connection is replaced, scripts survive a flush."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from proctor.storage.redis_calls import RedisCalls, Script

pytestmark = pytest.mark.redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    plain = aioredis.from_url(redis_url)
    yield plain
    await plain.aclose()


def calls_for(redis_url: str) -> RedisCalls:
    return RedisCalls.beside(aioredis.BlockingConnectionPool.from_url(redis_url))


async def test_replies_reach_their_own_callers_on_one_connection(redis_url: str) -> None:
    calls = calls_for(redis_url)
    words = [f"w{i}" for i in range(200)]
    replies = await asyncio.gather(*(calls.execute("ECHO", w) for w in words))
    assert replies == [w.encode() for w in words]
    ids = await asyncio.gather(*(calls.execute("CLIENT", "ID") for _ in range(20)))
    assert len(set(ids)) == 1, "concurrent calls are pipelined on one connection"
    await calls.close()


async def test_the_database_number_in_the_url_is_selected(redis_url: str, client: aioredis.Redis) -> None:
    key = f"t-{uuid.uuid4().hex}"
    calls = calls_for(redis_url)
    assert await calls.execute("SET", key, "v", "NX", "PX", 10_000) == b"OK"
    assert await client.get(key) == b"v", "written to the same database as the redis-py client's"
    assert await calls.execute("SET", key, "v", "NX", "PX", 10_000) is None
    await calls.close()


async def test_an_error_reply_keeps_the_connection(redis_url: str, client: aioredis.Redis) -> None:
    calls = calls_for(redis_url)
    key = f"t-{uuid.uuid4().hex}"
    await client.set(key, "text")
    first = await calls.execute("CLIENT", "ID")
    with pytest.raises(redis_errors.ResponseError):
        await calls.execute("INCR", key)
    assert await calls.execute("CLIENT", "ID") == first, "the same connection serves the next call"
    await calls.close()


async def test_a_cancelled_call_never_hands_its_reply_to_the_next(redis_url: str) -> None:
    calls = calls_for(redis_url)
    key = f"t-{uuid.uuid4().hex}"
    assert await calls.execute("PING") == b"PONG"  # connected
    gave_up = asyncio.ensure_future(calls.execute("SET", key, "x"))
    await asyncio.sleep(0)  # one loop turn: the command is written and its caller waits
    gave_up.cancel()  # abandoned with its reply on the way
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    assert await calls.execute("ECHO", "mine") == b"mine", "the abandoned reply went to nobody"
    assert await calls.execute("GET", key) == b"x", "the abandoned command itself did run"
    await calls.close()


async def test_a_dead_idle_connection_is_replaced(redis_url: str, client: aioredis.Redis) -> None:
    calls = calls_for(redis_url)
    victim = await calls.execute("CLIENT", "ID")
    await client.execute_command("CLIENT", "KILL", "ID", victim)
    assert await calls.execute("ECHO", "again") == b"again"
    assert await calls.execute("CLIENT", "ID") != victim
    await calls.close()


async def test_a_script_runs_again_after_the_script_cache_is_flushed(redis_url: str) -> None:
    calls = calls_for(redis_url)
    script = Script(f"return ARGV[1] .. '-{uuid.uuid4().hex[:6]}'")  # a body no other test loads
    first = await calls.run_script(script, [], ["a"])
    assert first.startswith(b"a-")
    await calls.execute("SCRIPT", "FLUSH")
    assert await calls.run_script(script, [], ["b"]) == b"b" + first[1:]
    await calls.close()


def test_it_works_on_uvloop_as_proctor_serve_runs_it(redis_url: str) -> None:
    import uvloop

    async def scenario() -> list[object]:
        calls = calls_for(redis_url)
        replies = await asyncio.gather(*(calls.execute("ECHO", f"u{i}") for i in range(50)))
        await calls.close()
        return replies

    assert uvloop.run(scenario()) == [f"u{i}".encode() for i in range(50)]
