"""Suites: import, activate, read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.cache import caches_of
from proctor.core.suites.documents import DEFAULT_HIDDEN_FIELDS, parse_suite_document
from proctor.core.suites.repository import SuiteRepository
from proctor.errors import Conflict, SuiteNotFound, ValidationFailed
from proctor.models import Problem, Suite
from proctor.storage.base import utcnow


@dataclass(frozen=True)
class ImportResult:
    suite: Suite
    created: bool


def resolve_hidden_fields(
    hidden: Iterable[str] = (), public: Iterable[str] = (), *, replace_defaults: bool = False
) -> list[str]:
    """Default ground-truth keys, plus `hidden`, minus what the operator marks `public`."""
    base = [] if replace_defaults else list(DEFAULT_HIDDEN_FIELDS)
    fields = dict.fromkeys([*base, *hidden])
    for name in public:
        fields.pop(name, None)
    return list(fields)


async def import_suite(
    session: AsyncSession,
    *,
    document: Any,
    name: str | None = None,
    version: int | None = None,
    hidden_fields: list[str] | None = None,
    activate: bool = False,
) -> ImportResult:
    """Store a suite file as a new suite version; importing identical content again returns it."""
    parsed = parse_suite_document(document)
    repo = SuiteRepository(session)
    existing = await repo.by_content(parsed.content_sha256)
    if existing is not None:
        if activate:
            await activate_suite(session, suite_id=existing.id)
        return ImportResult(existing, created=False)
    if version is not None and version < 1:
        raise ValidationFailed("suite version must be a positive integer")
    version = version or await repo.max_version() + 1
    suite = Suite(
        version=version,
        name=(name or parsed.name or f"suite v{version}")[:200],
        content_sha256=parsed.content_sha256,
        source_format=parsed.format,
        hidden_fields=hidden_fields if hidden_fields is not None else resolve_hidden_fields(),
        problem_count=len(parsed.problems),
        is_active=False,
    )
    session.add(suite)
    await session.flush()
    session.add_all(
        Problem(
            suite_id=suite.id,
            problem_id=p.problem_id,
            position=i,
            external_id=p.external_id,
            category=p.category,
            problem_metadata=p.metadata,
        )
        for i, p in enumerate(parsed.problems)
    )
    await session.flush()
    if activate:
        await activate_suite(session, suite_id=suite.id)
    return ImportResult(suite, created=True)


async def activate_suite(session: AsyncSession, *, suite_id: int) -> Suite:
    """Make one suite the active one (the database allows only one)."""
    repo = SuiteRepository(session)
    suite = await repo.get(suite_id)
    if suite is None:
        raise SuiteNotFound(f"Suite {suite_id} not found")
    if suite.is_active:
        return suite
    await repo.deactivate_all()
    await session.flush()
    suite.is_active, suite.activated_at = True, utcnow()
    try:
        await session.flush()
    except IntegrityError as exc:  # the partial unique index refused a concurrent activation
        raise Conflict("another suite was activated at the same time; retry") from exc
    caches_of(
        session
    ).scores_changed()  # the leaderboard and top of "the current suite" are another suite's now
    return suite


async def deactivate_all(session: AsyncSession) -> None:
    """Leave no suite active (submissions then answer NO_ACTIVE_SUITE)."""
    await SuiteRepository(session).deactivate_all()
    caches_of(session).scores_changed()


async def current_suite(session: AsyncSession) -> Suite:
    suite = await SuiteRepository(session).active()
    if suite is None:
        raise SuiteNotFound("No active suite")
    return suite


async def get_suite(session: AsyncSession, *, suite_id: int) -> Suite:
    suite = await SuiteRepository(session).get(suite_id)
    if suite is None:
        raise SuiteNotFound(f"Suite {suite_id} not found")
    return suite


async def list_suites(session: AsyncSession) -> Sequence[Suite]:
    """All suites, newest version first."""
    return await SuiteRepository(session).newest_first()


async def list_problems(session: AsyncSession, *, suite_id: int) -> Sequence[Problem]:
    return await SuiteRepository(session).problems(suite_id)
