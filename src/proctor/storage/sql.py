"""The fast executor: SQLAlchemy Core statements, compiled once, run where they are cheapest.

The hot paths (claims, heartbeats, progress, completions, compute accepts) are a handful of short
statements each. Through SQLAlchemy's asyncpg adapter a statement costs ~160 µs of CPU and a session
with BEGIN/COMMIT ~800 µs; the same statement on asyncpg directly costs ~30 µs (measured on the 2-core
reference machine). So on PostgreSQL the executor compiles each Core statement once for the asyncpg
dialect (SQL text + parameter order, cached per statement object) and runs it on an asyncpg pool of
its own; on SQLite, where the embedded default's single writer is the bottleneck anyway, it runs the
same statement through SQLAlchemy on the engine's one connection. Code above this module writes
portable Core statements once (at import, with `bindparam`s) and sees the same rows on both.

Type handling on PostgreSQL is asyncpg's own: JSON and JSONB go through codecs taking and returning
Python objects, timestamptz comes back as aware UTC datetimes, UUIDs as `uuid.UUID` subclasses.
That matches what the models' SQLAlchemy types produce, so rows read either way compare equal.

The ORM's `sessionmaker` stays for cold paths (admin, suite import, reads that are not hot). One
transaction never mixes the two: on SQLite the executor's transaction holds the only connection.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGCompiler_asyncpg, PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.types import Boolean, Integer, String

from proctor.config import Settings
from proctor.core.cache import Caches


class UniqueViolation(Exception):
    """A unique constraint or index refused a write (either dialect)."""


class DatabaseUnavailable(ConnectionError):
    """The database went away under a transaction (a restart, a crash, a failover) or no connection was
    free in time. A `ConnectionError`, so the HTTP layer answers 503 with Retry-After: retry shortly."""


# What asyncpg raises when the server side of a connection is gone or refuses new sessions: the
# connection closed mid-statement, "terminating connection due to administrator command" (a restart),
# "the database system is starting up" / "shutting down", the protocol left mid-operation by such a
# failure ("cannot switch to state …"), the client API on a closed connection, too many connections.
_CONNECTION_LOST: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)
_ACQUIRE_FAILED: tuple[type[BaseException], ...] = (TimeoutError, *_CONNECTION_LOST)  # … or none free in time


def rerunnable(exc: BaseException) -> bool:
    """PostgreSQL rolled the whole transaction back to break a deadlock (or a serialization failure):
    nothing of it was written, so the unit of work can run again from its start."""
    return isinstance(exc, asyncpg.exceptions.TransactionRollbackError)


T = TypeVar("T")


async def rerun(
    unit: Callable[[], Awaitable[T]],
    *,
    attempts: int = 3,
    also: Callable[[BaseException], bool] | None = None,
) -> T:
    """Run a unit of work, and again (up to `attempts` in all) when it failed as a whole and may simply
    run again: PostgreSQL rolled it back (`rerunnable`), or `also(exc)` says so."""
    for attempt in range(1, attempts + 1):
        try:
            return await unit()
        except Exception as exc:
            if attempt == attempts or not (rerunnable(exc) or (also is not None and also(exc))):
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, says the database connection is gone (either
    path: the executor's asyncpg errors, or SQLAlchemy's wrapping of them and its own disconnects)."""
    seen: BaseException | None = exc
    for _ in range(8):  # a cause chain is short; a bound guards against a cycle
        if seen is None:
            return False
        if isinstance(seen, _CONNECTION_LOST):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__
    return False


class Record(Protocol):
    """A result row: attribute access by column name or label."""

    def __getattr__(self, name: str) -> Any: ...


class Tx(Protocol):
    """One transaction on the executor."""

    dialect: str

    async def one(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any | None: ...

    async def all(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> list[Any]: ...

    async def scalar(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any: ...

    async def run(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> int: ...

    async def many(self, statement: ClauseElement, params: Sequence[Mapping[str, Any]]) -> None:
        """The statement once per parameter set, sent as one batch (one round trip on PostgreSQL)."""
        ...


# --- PostgreSQL on asyncpg ----------------------------------------------------------------------------


def _constant(bind: BindParameter[Any]) -> bool:
    """A value written into the statement where it was built (`status == "OPEN"`, `.limit(1)`), as
    opposed to a parameter named for the call (`bindparam("now")`), and of a kind that is written
    without any quoting question: a word of letters, digits and underscores, an integer, a boolean."""
    if not bind.unique or bind.required or bind.callable is not None:
        return False
    if bind.type._type_affinity not in _INLINE_AFFINITIES:
        return False
    values = bind.value if bind.expanding else [bind.value]
    return isinstance(values, (list, tuple)) and bool(values) and all(_plain(v) for v in values)


def _plain(value: object) -> bool:
    if isinstance(value, str):
        return _WORD.fullmatch(value) is not None
    return isinstance(value, int)  # bool is an int


_WORD = re.compile(r"[A-Za-z0-9_]{1,64}")
_INLINE_AFFINITIES = (String, Integer, Boolean)


class _InlineConstants(PGCompiler_asyncpg):
    """Writes a statement's constants into its SQL text instead of sending them as parameters.

    PostgreSQL plans a prepared statement afresh on every execution until a generic plan looks as
    cheap as the custom ones. With its constants as parameters (`status = $2`), a generic plan cannot
    prove a partial index's predicate (`WHERE status = 'SUCCESS'`), so it never looks as cheap and
    the claim was re-planned on every call: 1.15 ms of planning against 1.6 ms of execution
    (pg_stat_statements with track_planning, under bench/evaluation.py), a third of the database's
    CPU over the hot paths. With the constants inline, the generic plan is the custom plan, and each
    connection plans each statement a handful of times in its life.

    Only statements used more than once are compiled this way (see `compile_pg`): a statement built
    for one call with a caller's value in it (`key_sha256 == digest`) keeps it a parameter, so its
    text stays the same from call to call and asyncpg's prepared-statement cache still serves it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.inlined: set[str] = set()  # before the base class compiles the statement
        super().__init__(*args, **kwargs)

    def visit_bindparam(self, bindparam: BindParameter[Any], **kw: Any) -> str:  # type: ignore[override]
        if _constant(bindparam) and not kw.get("literal_execute"):
            kw["literal_binds"] = True
            self.inlined.add(bindparam.key)
        return str(super().visit_bindparam(bindparam, **kw))


class _Dialect(PGDialect_asyncpg):
    statement_compiler = _InlineConstants


_PG_PARAMS = PGDialect_asyncpg()
_PG_PARAMS.paramstyle = "numeric_dollar"
_PG = _Dialect()
_PG.paramstyle = "numeric_dollar"


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    inlined: frozenset[str] = frozenset()  # keys of the constants written into `sql`
    first_use: bool = False  # compiled with every value a parameter; the next use compiles it again

    def args(self, params: Mapping[str, Any] | None) -> list[Any]:
        params = params or {}
        if self.inlined and not self.inlined.isdisjoint(params):
            # A constant can no longer be replaced at call time: name the value with bindparam().
            raise TypeError(f"SQL constants {sorted(self.inlined & params.keys())} were given as parameters")
        try:
            return [params[name] if name in params else self.defaults[name] for name in self.names]
        except KeyError as exc:
            raise TypeError(f"missing SQL parameter {exc.args[0]!r}") from None


_COMPILED: dict[ClauseElement, _Compiled] = {}
_COMPILED_MAX = 4096  # statements are built once at import; a bound catches accidental per-call ones


def compile_pg(statement: ClauseElement) -> _Compiled:
    """SQL text and parameter order for asyncpg, compiled once per statement object (twice for one
    that is used again: its second compilation writes its constants inline, see _InlineConstants)."""
    found = _COMPILED.get(statement)
    if found is not None and not found.first_use:
        return found
    found = _compile(statement, inline=found is not None)
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[statement] = found
    return found


def _compile(statement: ClauseElement, *, inline: bool) -> _Compiled:
    # Constant IN lists are "expanding" parameters, rendered only once every value is known; so the
    # statement is compiled with placeholders given for the call-time parameters, which stay `$n`.
    compiled: Any = statement.compile(dialect=_PG if inline else _PG_PARAMS)
    required = {name for name, bind in compiled.binds.items() if bind.required}
    expanded = compiled.construct_expanded_state({name: None for name in required})
    names = tuple(expanded.positiontup or ())
    defaults = {name: value for name, value in expanded.parameters.items() if name not in required}
    inlined = frozenset(getattr(compiled, "inlined", ()))
    return _Compiled(expanded.statement, names, defaults, inlined, first_use=not inline)


class PgRecord:
    """An asyncpg record with attribute access."""

    __slots__ = ("_record",)

    def __init__(self, record: asyncpg.Record) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, key: str | int) -> Any:
        return self._record[key]

    @property
    def _mapping(self) -> Mapping[str, Any]:
        return dict(self._record.items())

    def __repr__(self) -> str:
        return f"PgRecord({dict(self._record.items())!r})"


class PgTx:
    dialect = "postgresql"

    def __init__(self, conn: asyncpg.Connection, db: Database) -> None:
        self.conn = conn
        self.db = db

    async def one(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any | None:
        c = compile_pg(statement)
        self.db.statements += 1
        try:
            row = await self.conn.fetchrow(c.sql, *c.args(params))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        return None if row is None else PgRecord(row)

    async def all(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> list[Any]:
        c = compile_pg(statement)
        self.db.statements += 1
        try:
            rows = await self.conn.fetch(c.sql, *c.args(params))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        return [PgRecord(row) for row in rows]

    async def scalar(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any:
        c = compile_pg(statement)
        self.db.statements += 1
        try:
            return await self.conn.fetchval(c.sql, *c.args(params))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc

    async def run(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> int:
        c = compile_pg(statement)
        self.db.statements += 1
        try:
            status = await self.conn.execute(c.sql, *c.args(params))
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def many(self, statement: ClauseElement, params: Sequence[Mapping[str, Any]]) -> None:
        if not params:
            return
        c = compile_pg(statement)
        self.db.statements += 1  # one pipelined batch: counted as the round trip it is
        try:
            await self.conn.executemany(c.sql, [c.args(p) for p in params])
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(str(exc)) from exc


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What the pool does to a released connection beyond rolling back an open transaction: nothing.

    asyncpg's default sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every
    release, a round trip per request (8.6 % of server CPU under the evaluation benchmark). proctor
    sets no session state, opens no cursors and listens to nothing; the one session-level advisory
    lock (a periodic job's) is unlocked by its holder, which terminates the connection if it cannot.
    """
    return None


def _jsonb_encode(value: Any) -> bytes:
    return b"\x01" + json.dumps(value).encode()


def _jsonb_decode(data: bytes) -> Any:
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "json",
        encoder=lambda v: json.dumps(v).encode(),
        decoder=json.loads,
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog", format="binary"
    )


def asyncpg_dsn(sqlalchemy_url: str) -> tuple[str, dict[str, Any]]:
    """A SQLAlchemy `postgresql+asyncpg://` URL as an asyncpg DSN plus connect options."""
    from sqlalchemy.engine import make_url

    url = make_url(sqlalchemy_url)
    query = dict(url.query)
    options: dict[str, Any] = {}
    ssl = query.pop("ssl", None) or query.pop("sslmode", None)
    if ssl is not None:
        options["ssl"] = ssl if ssl not in ("disable", "false") else False
    plain = url.set(drivername="postgresql", query=query)
    return plain.render_as_string(hide_password=False), options


# --- SQLite (and anything else) on SQLAlchemy ------------------------------------------------------------


class SaTx:
    """The executor's interface on SQLAlchemy: a Core connection (SQLite's transactions) or, through
    `SessionTx`, an ORM session. Statements are counted by the engine's event."""

    def __init__(self, conn: AsyncConnection | AsyncSession) -> None:
        self.conn = conn
        self.dialect = conn.get_bind().dialect.name if isinstance(conn, AsyncSession) else conn.dialect.name

    async def _execute(self, statement: ClauseElement, params: Any) -> Any:
        try:
            return await self.conn.execute(statement, _bound(params))  # type: ignore[call-overload]
        except IntegrityError as exc:
            if "unique" in str(exc.orig).lower():
                raise UniqueViolation(str(exc.orig)) from exc
            raise

    async def one(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any | None:
        return (await self._execute(statement, params)).first()

    async def all(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> list[Any]:
        return list((await self._execute(statement, params)).all())

    async def scalar(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Any:
        return (await self._execute(statement, params)).scalar()

    async def run(self, statement: ClauseElement, params: Mapping[str, Any] | None = None) -> int:
        result = await self._execute(statement, params)
        return int(getattr(result, "rowcount", 0) or 0)

    async def many(self, statement: ClauseElement, params: Sequence[Mapping[str, Any]]) -> None:
        if params:
            await self._execute(statement, [dict(p) for p in params])


def _bound(params: Any) -> Any:
    """SQLAlchemy's parameters: a dict, a list of dicts (executemany) or None."""
    if isinstance(params, list):
        return params
    return dict(params) if params else None


class SessionTx(SaTx):
    """The executor's interface over an ORM session's transaction, for cold paths written with the ORM
    that also make lease-engine transitions in the same unit of work (either dialect). Rows the ORM
    already loaded are not refreshed by these statements: re-read them (`populate_existing`) after."""


# --- the process's database ---------------------------------------------------------------------------------


class Database:
    """The process's database: the executor's transactions, the ORM's sessions, and their pools."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        caches: Caches,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessionmaker = sessionmaker
        self.caches = caches
        self.dialect = engine.dialect.name
        self.pool: asyncpg.Pool | None = None
        self.statements = 0  # every statement this process sent, either way (/metrics shows it)
        self.transactions = 0

        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _count(*_args: Any) -> None:
            self.statements += 1

    async def start(self) -> None:
        """Open the asyncpg pool (PostgreSQL only); connections are made lazily beyond `min_size`."""
        if self.dialect != "postgresql" or self.pool is not None:
            return
        dsn, options = asyncpg_dsn(self.settings.resolved_database_url)
        self.pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=self.settings.db_pool_size,
            init=_init_connection,
            timeout=5,
            command_timeout=60,
            max_inactive_connection_lifetime=300,
            reset=_keep_session,
            **options,
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self, *, autocommit: bool = False) -> AsyncIterator[Tx]:
        """One transaction: committed when the block ends normally, rolled back on any exception.

        `autocommit=True` is for units whose statements stand alone (a single guarded UPDATE, say, and
        a last-seen write that may land without it): on PostgreSQL each statement then commits by
        itself, which saves the BEGIN and COMMIT round trips (a third of a heartbeat's database
        time). SQLite keeps one transaction either way (it costs nothing there).
        """
        self.transactions += 1
        if self.dialect == "postgresql":
            if self.pool is None:
                await self.start()
            assert self.pool is not None
            try:
                # With a connection idle there is no wait to bound, and asyncpg's timeout machinery (a
                # third of an acquire's CPU: 25 µs against 16 µs measured) is skipped. Two callers
                # racing for the last idle connection: the second queues for the next release.
                idle = self.pool.get_idle_size() > 0
                timeout = None if idle else self.settings.db_pool_timeout_seconds
                conn = await self.pool.acquire(timeout=timeout)
            except _ACQUIRE_FAILED as exc:
                raise DatabaseUnavailable(f"no database connection: {type(exc).__name__}: {exc}") from exc
            try:
                if autocommit:
                    yield PgTx(conn, self)
                else:
                    async with conn.transaction():
                        yield PgTx(conn, self)
            except _CONNECTION_LOST as exc:
                with contextlib.suppress(asyncpg.InterfaceError):  # already closed and returned
                    conn.terminate()  # never hand a connection in an unknown state to the next request
                raise DatabaseUnavailable(f"database connection lost: {type(exc).__name__}: {exc}") from exc
            finally:
                await self.pool.release(conn)
            return
        async with self.engine.begin() as conn:
            yield SaTx(conn)
