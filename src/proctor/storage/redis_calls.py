"""Single Redis commands on the hot path: one pipelined connection, hiredis to speak RESP.

Every signed request makes one Redis call (its rate limit and replay nonce, in one script), and every
AITBC job operation two or three (edge, per-key and per-miner limits). Through `redis.asyncio` with a
`BlockingConnectionPool`, one call cost 89 µs of CPU with 64 concurrent callers, mostly pool locking,
the "does this connection hold unread data?" probe on every checkout (a syscall), a task created per
send by `asyncio.wait_for` and a timeout context per read. The same call here costs a future, one
`transport.write` and the reply parse (measured: 64 tasks, 6,400 EVALSHA calls, uvloop).

How it works, and why it is safe:
- Redis answers the commands of one connection in the order it received them, so every caller
  writes its command and queues a future; `data_received` hands each reply, in order, to the future
  at the head of the queue. Callers never wait for one another to finish: commands are pipelined.
- A caller that gives up (cancelled, timed out) leaves its future in the queue; its reply, when it
  comes, is dropped, and the next reply still reaches the next caller. Nothing goes out of step.
- A lost connection fails every queued call with `redis.exceptions.ConnectionError` (so the HTTP
  layer answers 503 as before); the next call connects again. A call that fails on a connection
  opened before it, which Redis may have dropped unnoticed (a restart, an idle timeout), is sent once
  more on a new connection, as redis-py's default retry does.
- Only commands that answer at once belong here (SET, EVALSHA of short scripts): a blocking command
  (BLPOP, WAIT) would hold up every caller behind it.

Encoding and parsing are hiredis's (`pack_command`, `Reader`); errors are redis-py's exception classes;
the address, password, database and TLS come from the same URL as the redis-py pool's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections import deque
from typing import Any, cast

import hiredis
from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection


class Script:
    """A Lua script called by its SHA1, loaded on first use and again after a Redis restart."""

    def __init__(self, body: str) -> None:
        self.body = body
        self.sha = hashlib.sha1(body.encode()).hexdigest()  # Redis's script cache key (not security)


def _error(reply: hiredis.ReplyError) -> redis_errors.ResponseError:
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return redis_errors.NoScriptError(message)
    return redis_errors.ResponseError(message)


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=hiredis.ReplyError)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's or uvloop's own transport class (uvloop's does not subclass asyncio.Transport).
        self.transport, self.open = cast(asyncio.Transport, transport), True

    def call(self, command: tuple[Any, ...]) -> asyncio.Future[Any]:
        if not self.open or self.transport is None:
            raise redis_errors.ConnectionError("Redis connection closed")
        future = asyncio.get_running_loop().create_future()
        self.transport.write(hiredis.pack_command(command))
        self.waiting.append(future)
        return future

    def data_received(self, data: bytes) -> None:
        try:
            self.reader.feed(data)
            while (reply := self.reader.gets()) is not False:
                future = self.waiting.popleft()
                if future.done():  # its caller gave up; the reply is dropped, order is kept
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    future.set_exception(_error(reply))
                else:
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            self._fail(redis_errors.ConnectionError(f"Redis protocol error: {exc}"))
            if self.transport is not None:
                self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis_errors.ConnectionError(f"Redis connection lost: {exc or 'closed by the server'}"))

    def _fail(self, error: Exception) -> None:
        self.open = False
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


class RedisCalls:
    def __init__(self, pool: ConnectionPool, *, connect_timeout: float = 5.0) -> None:
        kwargs = pool.connection_kwargs
        unix = issubclass(pool.connection_class, UnixDomainSocketConnection)
        self._path: str | None = kwargs.get("path") if unix else None
        self._host, self._port = kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))
        self._tls = issubclass(pool.connection_class, SSLConnection)
        self._auth = [v for v in (kwargs.get("username"), kwargs.get("password")) if v]
        self._db = int(kwargs.get("db") or 0)
        self.connect_timeout = connect_timeout
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def beside(cls, pool: ConnectionPool) -> RedisCalls:
        """A connection to the server `pool` connects to, opened on first use."""
        timeout = getattr(pool, "timeout", None) or 5.0
        return cls(pool, connect_timeout=float(timeout))

    async def run_script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis_errors.NoScriptError:  # a restarted or flushed Redis: EVAL loads it again
            return await self.execute("EVAL", script.body, len(keys), *keys, *args)

    async def execute(self, *command: Any) -> Any:
        """Send one command and return its reply (an error reply raises, as in redis-py)."""
        connection = self._connection
        if connection is not None and connection.open:
            # Opened before this call: if it turns out dead (a Redis restart, an idle timeout), the
            # command goes once more, on a new connection, below.
            with contextlib.suppress(redis_errors.ConnectionError):
                return await connection.call(command)
        connection = await self._connect()
        return await connection.call(command)

    async def _connect(self) -> _Connection:
        async with self._connecting:
            if self._connection is not None and self._connection.open:
                return self._connection  # another caller connected while this one waited
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self.connect_timeout):
                    if self._path:
                        _, connection = await loop.create_unix_connection(_Connection, self._path)
                    else:
                        _, connection = await loop.create_connection(
                            _Connection,
                            self._host,
                            self._port,
                            ssl=ssl.create_default_context() if self._tls else None,
                        )
                    if self._auth:
                        await connection.call(("AUTH", *self._auth))
                    if self._db:
                        await connection.call(("SELECT", self._db))
            except (OSError, TimeoutError) as exc:
                raise redis_errors.ConnectionError(f"cannot connect to Redis: {exc}") from exc
            self._connection = connection
            return connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.transport is not None:
            with contextlib.suppress(Exception):
                connection.transport.close()
