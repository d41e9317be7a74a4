"""Process-wide resources built by the app's lifespan, reachable from every request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from proctor.config import Settings
from proctor.core.context import Core
from proctor.core.identity.registry import Registry
from proctor.http.metrics import Metrics
from proctor.storage.blobs import BlobStore
from proctor.storage.kv import EphemeralStore
from proctor.storage.ratelimit import RateLimiter


@dataclass
class AppState:
    """The core's state plus what only HTTP needs (the limiter and the request metrics)."""

    core: Core
    limiter: RateLimiter
    metrics: Metrics

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def engine(self) -> AsyncEngine:
        return self.core.db.engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.core.db.sessionmaker

    @property
    def kv(self) -> EphemeralStore:
        return self.core.kv

    @property
    def registry(self) -> Registry:
        return self.core.registry

    @property
    def blobs(self) -> BlobStore:
        return self.core.blobs
