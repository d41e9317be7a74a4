"""The core's per-process state, typed and built once (by the app's lifespan, `proctor worker` or a CLI
command): the database, the blob store, the registry, the ephemeral store, caches and policies.

Flows take it first (`async def claim_work(core: Core, *, validator: str, …)`) and own their unit of
work through `core.db`; nothing in the core reaches for module-level state.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from proctor.config import Settings
from proctor.core.cache import Caches
from proctor.core.identity import service as identity_service
from proctor.core.identity.registry import Overrides, Registry, source_from_setting
from proctor.storage.blobs import BlobStore, create_blob_store
from proctor.storage.db import create_engine, create_sessionmaker
from proctor.storage.kv import EphemeralStore, MemoryStore, RedisStore
from proctor.storage.sql import Database

if TYPE_CHECKING:
    from proctor.core.credentials.providers import Providers
    from proctor.core.submissions.runner import GateRunner


class Debounce:
    """Per-key "at most once every `seconds`, unless what is written changed" for last-seen style
    writes on hot paths.

    Per process: with several replicas a key is written at most once per interval per replica, which
    is what a "last seen" column needs; a report whose content differs from the last one written
    (new metrics, new service versions) is written at once.
    """

    def __init__(self, seconds: float, *, maxsize: int = 100_000) -> None:
        self.seconds, self.maxsize = seconds, maxsize
        self._last: dict[str, tuple[datetime, object]] = {}

    def due(self, key: str, now: datetime, content: object = None) -> bool:
        last = self._last.get(key)
        if last is not None and last[1] == content and (now - last[0]).total_seconds() < self.seconds:
            return False
        if len(self._last) >= self.maxsize:
            self._last.clear()
        self._last[key] = (now, content)
        return True


@dataclass
class Core:
    settings: Settings
    db: Database
    blobs: BlobStore
    registry: Registry
    kv: EphemeralStore
    gates: GateRunner
    providers: Providers
    redis_pool: aioredis.BlockingConnectionPool | None = None
    seen: Debounce = field(default_factory=lambda: Debounce(10.0))

    @property
    def sessionmaker(self):  # type: ignore[no-untyped-def]  # async_sessionmaker[AsyncSession]
        return self.db.sessionmaker

    @property
    def caches(self) -> Caches:
        return self.db.caches

    async def start(self) -> None:
        """Connect what needs connecting and start the gate workers; safe to call once per process."""
        await self.db.start()
        self.gates.start()
        await self.registry.refresh()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.providers.close()
        await self.kv.close()
        await self.blobs.close()
        self.gates.close()
        await self.db.close()


def build_core(settings: Settings, *, gate_workers: int | None = None) -> Core:
    """Everything the core needs for one process; nothing is connected until `start()`."""
    from proctor.core.credentials.providers import Providers
    from proctor.core.submissions.runner import GateRunner

    caches = Caches()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine, caches)
    db = Database(settings, engine, sessionmaker, caches)
    pool = (
        aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_pool_timeout_seconds,
        )
        if settings.redis_url
        else None
    )
    kv: EphemeralStore = RedisStore(aioredis.Redis(connection_pool=pool)) if pool else MemoryStore()

    async def load_overrides() -> Overrides:
        async with sessionmaker() as session:
            return await identity_service.load_overrides(session)

    registry = Registry(
        source_from_setting(
            settings.registry, chain_network=settings.chain_network, chain_netuid=settings.chain_netuid
        ),
        load_overrides,
        admin_hotkeys=frozenset(settings.admin_hotkeys),
        refresh_seconds=settings.registry_refresh_seconds,
        max_age_seconds=settings.registry_max_age_seconds,
    )
    return Core(
        settings=settings,
        db=db,
        blobs=create_blob_store(settings),
        registry=registry,
        kv=kv,
        gates=GateRunner(
            workers=settings.submission_workers if gate_workers is None else gate_workers,
            timeout_seconds=settings.submission_check_timeout_seconds,
        ),
        providers=Providers(settings),
        redis_pool=pool,
    )


async def run_registry_refresher(core: Core, stop: asyncio.Event) -> None:
    await core.registry.run_refresher(stop)
