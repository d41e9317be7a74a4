"""Process-wide resources built by the app's lifespan, reachable from every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from proctor.config import Settings
from proctor.core.identity.registry import Registry
from proctor.http.metrics import Metrics
from proctor.storage.kv import EphemeralStore
from proctor.storage.ratelimit import RateLimiter


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    kv: EphemeralStore
    limiter: RateLimiter
    registry: Registry
    metrics: Metrics
    extras: dict[str, Any] = field(default_factory=dict)  # per-surface singletons (blob store, …)
