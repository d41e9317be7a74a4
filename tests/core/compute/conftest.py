"""A migrated database and a small market (miners, a client, jobs) for compute core tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from proctor.config import Settings
from proctor.core.compute import money
from proctor.core.compute import service as compute
from proctor.core.compute.schemas import JobSpec, OfferIn, Policy
from proctor.storage import migrate
from proctor.storage.db import create_engine, create_sessionmaker, unit_of_work

T = TypeVar("T")
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = Policy(
    auto_approve=True,
    heartbeat_timeout_seconds=60,
    max_attempts=2,
    run_deadline_factor=2.0,
    run_deadline_grace_seconds=0,
    default_ttl_seconds=900,
    max_ttl_seconds=3600,
    max_payload_bytes=1024,
)


@dataclass
class Market:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def run(self, action: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        """One service call in its own committed transaction."""
        async with unit_of_work(self.sessionmaker) as session:
            return await action(session, **kwargs)

    async def miner(
        self,
        *,
        gpu_type: str = "a100",
        gpu_count: int = 1,
        price_per_hour: str = "1",
        max_concurrent: int = 2,
        approve: bool = True,
        now: datetime = T0,
    ) -> str:
        offer = OfferIn(
            name="rig",
            gpu_type=gpu_type,
            gpu_count=gpu_count,
            location="us-east",
            price_per_hour_micro=money.to_micro(Decimal(price_per_hour)),
            max_concurrent=max_concurrent,
        )
        policy = Policy(**{**POLICY.__dict__, "auto_approve": approve})
        registration = await self.run(compute.register_miner, offer=offer, policy=policy, now=now)
        return registration.miner.id

    async def client(self, name: str = "acme") -> str:
        return (await self.run(compute.issue_client, name=name, now=T0)).client_id

    async def job(
        self,
        client_id: str,
        *,
        gpu_type: str | None = "a100",
        gpu_count: int = 1,
        estimated_time: int = 3600,
        price: str = "1",
        ttl_seconds: int | None = None,
        now: datetime = T0,
    ) -> str:
        spec = JobSpec(
            model="gpt2",
            gpu_type=gpu_type,
            gpu_count=gpu_count,
            estimated_time=estimated_time,
            price_micro=money.to_micro(Decimal(price)),
            payload={"prompt": "hello"},
            ttl_seconds=ttl_seconds,
        )
        job = await self.run(compute.create_job, client_id=client_id, spec=spec, policy=POLICY, now=now)
        return job.id


@pytest.fixture
async def market(database_url: str, tmp_path: Path) -> AsyncIterator[Market]:
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data")
    await migrate.upgrade(settings)
    engine = create_engine(settings)
    try:
        yield Market(engine, create_sessionmaker(engine))
    finally:
        await engine.dispose()
