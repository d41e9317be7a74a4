"""Migrations apply on SQLite and PostgreSQL, round-trip, and match the models exactly."""

from __future__ import annotations

from proctor.config import Settings
from proctor.storage import migrate


async def test_upgrade_then_autogenerate_finds_nothing(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    await migrate.upgrade(settings)
    assert await migrate.current_revision(settings) == migrate.head_revision()
    assert await migrate.pending_changes(settings) == []


async def test_downgrade_to_base_and_back(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    await migrate.upgrade(settings)
    await migrate.downgrade(settings, "base")
    assert await migrate.current_revision(settings) is None
    await migrate.upgrade(settings)
    assert await migrate.pending_changes(settings) == []
