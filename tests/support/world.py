"""A migrated database with a suite and accepted agent versions, for core-level tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from proctor.config import Settings
from proctor.core.context import Core, build_core
from proctor.core.evaluations import service as evaluation_service
from proctor.core.identity.registry import Identity
from proctor.core.submissions import service as submission_service
from proctor.core.submissions.gates import Candidate
from proctor.core.suites import service as suite_service
from proctor.models import AgentVersion
from proctor.storage import migrate
from proctor.storage.db import unit_of_work
from tests.support.agents import valid_agent
from tests.support.suites import oro_problems


@dataclass
class World:
    core: Core
    suite_id: int = 0

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
    def blobs(self) -> object:
        return self.core.blobs

    def transaction(self) -> object:
        return unit_of_work(self.sessionmaker)

    async def submit(self, hotkey: str, *, now: datetime, name: str = "agent") -> AgentVersion:
        """An accepted version from `hotkey` (its cooldown is whatever the settings say)."""
        candidate = Candidate(hotkey, name, "agent.py", valid_agent())
        async with self.sessionmaker() as session:
            facts = await submission_service.load_facts(
                session,
                candidate=candidate,
                identity=Identity(hotkey, registered=True),
                policy=submission_service.policy_from(self.settings),
                now=now,
            )
        async with unit_of_work(self.sessionmaker) as session:
            outcome = await submission_service.submit(
                session,
                candidate=candidate,
                facts=facts,
                code_store=self.blobs,  # type: ignore[arg-type]
                evaluation=evaluation_service.policy_from(self.settings),
                runner=self.core.gates,
            )
        assert outcome.accepted, outcome.rejection
        assert outcome.version is not None
        return outcome.version


async def make_world(database_url: str, tmp_path: Path, **overrides: object) -> AsyncIterator[World]:
    values: dict[str, object] = {"submission_cooldown_seconds": 0, **overrides}
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        **values,  # type: ignore[arg-type]
    )
    await migrate.upgrade(settings)
    core = build_core(settings, gate_workers=0)
    await core.start()
    world = World(core)
    async with unit_of_work(world.sessionmaker) as session:
        result = await suite_service.import_suite(session, document=oro_problems(5), activate=True)
        world.suite_id = result.suite.id
    try:
        yield world
    finally:
        await core.close()


def miner(n: int) -> str:
    """Distinct fake hotkeys for bulk tests (the service layer does not check SS58)."""
    return f"miner-{n:04d}-{uuid.uuid4().hex[:8]}"
