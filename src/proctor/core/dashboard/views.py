"""What each dashboard page shows, read through the same core reads the JSON API uses.

Each function owns its (read-only) session and returns plain view objects; the dashboard surface only
renders them. Aggregates that cost a scan at 100k versions (the score histogram, per-validator run
tallies) are kept for a few seconds per process.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from proctor.core.cache import TTLCache
from proctor.core.compute import service as compute_service
from proctor.core.context import Core
from proctor.core.dashboard import repository
from proctor.core.evaluations import artifacts, reads
from proctor.core.evaluations import top as top_service
from proctor.core.races import flows as races
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards.cache import NodeCache
from proctor.core.rewards.errors import EpochNotFound
from proctor.core.scores import leaderboard as board
from proctor.core.submissions import service as submission_service
from proctor.core.suites import service as suite_service
from proctor.errors import NotFound, SuiteNotFound
from proctor.models import Agent, AgentVersion, ComputeMiner, EvaluationRun, Problem, RewardEpoch, Suite

AGGREGATE_TTL_SECONDS = 10.0
# A leaderboard page is kept as long as the JSON API keeps its rendered leaderboard pages, and under
# the same scores generation: a change this process makes (a version eligible, a ban, a race
# completed) is shown at once; another replica's within the ranking's stamp check plus this TTL.
LEADERBOARD_TTL_SECONDS = 2.0
# The leaderboard's charts are keyed by the scores generation, which moves whenever this process (or,
# through the leaderboard's stamp check, another replica) changes the board: the TTL is only a backstop.
CHARTS_TTL_SECONDS = 60.0
HISTOGRAM_BUCKETS = 10
TREE_CACHE_KEY = "reward_trees"  # the claim app's cache of published trees, shared when both are mounted


def _cached(core: Core, name: str, ttl: float = AGGREGATE_TTL_SECONDS) -> TTLCache[Any]:
    extra = core.caches.extra
    cache = extra.get(name)
    if cache is None:
        cache = extra[name] = TTLCache(ttl, maxsize=64)
    return cache  # type: ignore[no-any-return]


# --- leaderboard ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopPoint:
    at: datetime
    score: float
    agent_name: str


@dataclass(frozen=True)
class Histogram:
    low: float
    high: float
    counts: list[int]


@dataclass(frozen=True)
class RaceBoard:
    """`score_type=race`: a page of the latest completed race's finishers, by race rank."""

    race: races.RaceView | None
    entries: list[races.QualifierView]
    total: int


SCORE_TYPES = ("qualifying", "race")


@dataclass(frozen=True)
class LeaderboardView:
    suite: Suite | None
    page: board.Page | None
    offset: int
    limit: int
    q: str
    top: top_service.TopView | None
    top_history: list[TopPoint] = field(default_factory=list)
    histogram: Histogram | None = None
    score_type: str = "qualifying"
    has_races: bool = False  # a completed race exists: the score-type switch is shown
    race_board: RaceBoard | None = None

    @property
    def total(self) -> int:
        if self.race_board is not None:
            return self.race_board.total
        return self.page.total if self.page is not None else 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


async def leaderboard(
    core: Core, *, q: str, limit: int, offset: int, now: datetime, score_type: str = "qualifying"
) -> LeaderboardView:
    """A page of the current suite's leaderboard (ranked by final score, or by the latest completed
    race's scores) with the top agent, its history and the score spread. The first page is what most
    viewers ask for: while the board stands, one read serves them all for a couple of seconds."""
    pages = _cached(core, "dashboard.leaderboard", LEADERBOARD_TTL_SECONDS)
    key = (core.caches.scores.value, q, limit, offset, score_type, core.settings.top_margin)
    kept = pages.get(key)
    if kept is not None:
        return kept  # type: ignore[no-any-return]
    view = await _leaderboard(core, q=q, limit=limit, offset=offset, now=now, score_type=score_type)
    if view.suite is not None:  # "no active suite" is not kept: an import elsewhere must show at once
        # Under the generation read before: a change made while this page was read bumps it, so the
        # page (which may predate the change) is never served as the changed board.
        pages.put(key, view)
    return view


async def _leaderboard(
    core: Core, *, q: str, limit: int, offset: int, now: datetime, score_type: str
) -> LeaderboardView:
    # What every page of the board shares (the current suite, whether it has raced) changes only with
    # the scores generation (suite activation and race completion bump it): two reads per generation
    # and TTL, not per page.
    shared = _cached(core, "dashboard.board_suite", LEADERBOARD_TTL_SECONDS)
    generation = core.caches.scores.value
    async with core.sessionmaker() as session:
        known: tuple[Suite, bool] | None = shared.get(generation)
        if known is None:
            try:
                suite = await suite_service.current_suite(session)
            except SuiteNotFound:
                return LeaderboardView(None, None, offset, limit, q, None)
            known = shared.put(generation, (suite, await races.has_completed(session, suite_id=suite.id)))
        suite, has_races = known
        page, race_board = None, None
        if score_type == "race":  # the same read and filter as the JSON API's `score_type=race`
            race = await races.latest_complete(session, suite_id=suite.id)
            found = races.finishers(race, q=q)
            race_board = RaceBoard(race, found[offset : offset + limit], len(found))
            has_races = race is not None
        else:
            page = await board.page(
                session, suite_id=suite.id, limit=limit, offset=offset, q=q or None, now=now
            )
        top = await top_service.current(session, suite_id=suite.id, margin=core.settings.top_margin)
        # Both charts change only with the board, so they are kept per scores generation.
        cache = _cached(core, "dashboard.charts", CHARTS_TTL_SECONDS)
        key = (suite.id, core.caches.scores.value)
        charts = cache.get(key)
        if charts is None:
            history = [
                TopPoint(row.top_at, row.score, agent.name)
                for row, _, agent in await top_service.history(session, suite_id=suite.id)
            ]
            low, high, counts = await repository.score_buckets(
                session, suite_id=suite.id, buckets=HISTOGRAM_BUCKETS
            )
            charts = cache.put(key, (list(reversed(history)), Histogram(low, high, counts)))
    history, histogram = charts
    return LeaderboardView(
        suite, page, offset, limit, q, top, history, histogram, score_type, has_races, race_board
    )


# --- one agent version ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    run: EvaluationRun
    status: str
    score: float | None
    has_logs: bool


@dataclass(frozen=True)
class MatrixRow:
    problem_id: uuid.UUID
    title: str
    cells: list[Cell | None]  # one per column (validator run), None where that run has no result yet


PHASES = ("all", "qualifying", "race")


@dataclass(frozen=True)
class AgentView:
    version: AgentVersion
    agent: Agent
    counters: reads.VersionCounters
    runs: Sequence[EvaluationRun]  # the runs of the chosen phase, newest first
    columns: list[EvaluationRun]  # the QUALIFYING runs shown as matrix columns, oldest first
    matrix: list[MatrixRow]
    code_released: bool
    races: list[races.VersionEntry] = field(default_factory=list)  # the races it was in, newest first
    phase: str = "all"  # all | qualifying | race: which runs the runs table lists
    race_numbers: dict[uuid.UUID, int] = field(default_factory=dict)  # race id → number, for RACE runs


def _problem_title(problem: Problem) -> str:
    data = problem.problem_metadata if isinstance(problem.problem_metadata, dict) else {}
    for value in (data.get("title"), data.get("name"), problem.external_id, data.get("query")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:80]
    return str(problem.problem_id)[:8]


async def agent(core: Core, *, version_id: uuid.UUID, now: datetime, phase: str = "all") -> AgentView:
    """An agent version: status, counters, its races, its runs (of one phase or all) and the problem ×
    validator matrix of its qualifying runs (a race's problems are the hidden bank's: never shown)."""
    async with core.sessionmaker() as session:
        version, owner = await submission_service.get_version(session, version_id=version_id)
        counters = await reads.counters(
            session, version_id=version.id, default_required=core.settings.eval_required_successes
        )
        runs = await reads.runs_of(session, version_id=version.id)
        rows = await reads.problem_matrix(session, version=version, runs=runs)
        entries = await races.entries_of(session, version_id=version.id)
    columns = sorted((r for r in runs if r.race_id is None), key=lambda r: r.claimed_at)
    position = {run.id: i for i, run in enumerate(columns)}
    matrix = []
    for row in rows:
        cells: list[Cell | None] = [None] * len(columns)
        for run, result in row.results:
            if run.id in position:
                cells[position[run.id]] = Cell(run, result.status, result.score, bool(result.logs_s3_key))
        matrix.append(MatrixRow(row.problem.problem_id, _problem_title(row.problem), cells))
    released = version.code_available_at is not None and version.code_available_at <= now
    if phase != "all":
        runs = [r for r in runs if (r.race_id is None) == (phase == "qualifying")]
    numbers = {e.race.id: e.race.number for e in entries}
    return AgentView(version, owner, counters, runs, columns, matrix, released, entries, phase, numbers)


# --- races ---------------------------------------------------------------------------------------------


FINISHED_RACE_STATUSES = ("RACE_COMPLETE", "CANCELLED")


@dataclass(frozen=True)
class RacePage:
    """A race (the current one, or one by id) with each qualifier's race runs: live race scores."""

    view: races.RaceView
    runs: dict[uuid.UUID, list[EvaluationRun]]  # per qualifying version

    @property
    def finished_runs(self) -> int:
        return sum(1 for runs in self.runs.values() for r in runs if r.status == "SUCCESS")


async def race(core: Core, *, race_id: uuid.UUID | None) -> RacePage | None:
    """A race by id (404 RACE_NOT_FOUND), or with None the current one (None when there never was one),
    read through the JSON API's race reads, plus its runs. A finished race never changes, so its page
    is kept for a while (a race page is what a subnet's users open all at once when a race ends)."""
    cache = _cached(core, "dashboard.finished_races", CHARTS_TTL_SECONDS)
    if race_id is not None and (kept := cache.get(race_id)) is not None:
        return kept  # type: ignore[no-any-return]
    async with core.sessionmaker() as session:
        view = await (
            races.detail_in(session, race_id=race_id) if race_id is not None else races.current_in(session)
        )
        if view is None:
            return None
        page = RacePage(view, await races.race_runs(session, view=view))
    if view.race.status in FINISHED_RACE_STATUSES:
        cache.put(view.race.id, page)
    return page


async def race_history(core: Core, *, limit: int, offset: int) -> tuple[int, list[races.RaceView]]:
    """Completed and cancelled races, most recent first (the JSON API's history read)."""
    return await races.history(core, suite_id=None, limit=limit, offset=offset)


# --- validators ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ValidatorRow:
    hotkey: str
    uid: int | None
    permit: bool
    stake: float
    last_seen_at: datetime | None
    runs_done: int
    runs_failed: int
    service_versions: dict[str, Any]
    current_agent: str | None
    current_version_id: uuid.UUID | None

    @property
    def failure_rate(self) -> float | None:
        return self.runs_failed / self.runs_done if self.runs_done else None


async def validators(core: Core) -> list[ValidatorRow]:
    """Every validator proctor has seen that still holds a permit, with its record."""
    listed = core.registry.validators()
    identities = {i.hotkey: i for i in listed}
    async with core.sessionmaker() as session:
        views = await reads.validators(session, listed=listed)
        cache = _cached(core, "dashboard.tallies")
        tallies = cache.get("all")
        if tallies is None:
            tallies = cache.put("all", await repository.validator_tallies(session))
    rows = []
    for view in views:
        identity = identities.get(view.hotkey)
        tally = tallies.get(view.hotkey, repository.ValidatorTally(0, 0))
        rows.append(
            ValidatorRow(
                hotkey=view.hotkey,
                uid=identity.uid if identity else None,
                permit=bool(identity and identity.validator_permit),
                stake=identity.stake if identity else 0.0,
                last_seen_at=view.state.last_seen_at if view.state else None,
                runs_done=tally.runs_done,
                runs_failed=tally.runs_failed,
                service_versions=dict(view.state.service_versions or {}) if view.state else {},
                current_agent=view.agent.name if view.agent else None,
                current_version_id=view.version.id if view.version else None,
            )
        )
    return rows


# --- evaluations running and pending -------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationsView:
    running: Sequence[tuple[EvaluationRun, AgentVersion, Agent]]
    pending: reads.PendingQueue
    hourly: list[tuple[datetime, int]]  # runs finished in each of the last 24 hours, oldest first


def hourly_counts(times: Sequence[datetime], *, now: datetime, hours: int = 24) -> list[tuple[datetime, int]]:
    """Counts per clock hour for the `hours` hours up to `now` (the current, partial hour last)."""
    top = now.replace(minute=0, second=0, microsecond=0)
    starts = [top - timedelta(hours=hours - 1 - i) for i in range(hours)]
    counts = [0] * hours
    for at in times:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        index = hours - 1 - int((top - at.replace(minute=0, second=0, microsecond=0)).total_seconds() // 3600)
        if 0 <= index < hours:
            counts[index] += 1
    return list(zip(starts, counts, strict=True))


async def evaluations(core: Core, *, limit: int, now: datetime) -> EvaluationsView:
    """Runs in progress and the open queue with its drain projection."""
    active = sum(1 for v in core.registry.validators() if not v.banned)
    async with core.sessionmaker() as session:
        running = await reads.running(session)
        pending = await reads.pending(
            session, suite_id=None, limit=limit, offset=0, now=now, active_validators=active
        )
        cache = _cached(core, "dashboard.throughput")
        times = cache.get("day")  # one scan per TTL, however many viewers
        if times is None:
            times = cache.put("day", await repository.finished_since(session, now - timedelta(hours=24)))
    return EvaluationsView(running, pending, hourly_counts(times, now=now))


# --- rewards -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RewardsView:
    epochs: Sequence[RewardEpoch]
    hotkey: str
    package: epoch_service.ProofPackage | None
    lookup_error: str | None


def tree_cache(core: Core) -> NodeCache:
    extra = core.caches.extra
    cache = extra.get(TREE_CACHE_KEY)
    if cache is None:
        cache = extra[TREE_CACHE_KEY] = NodeCache(core.settings.claims_tree_cache_mb * 2**20)
    return cache  # type: ignore[no-any-return]


async def rewards(core: Core, *, hotkey: str) -> RewardsView:
    """Published epochs, and the proof package of `hotkey` in the newest one (when asked)."""
    async with core.sessionmaker() as session:
        epochs = await epoch_service.list_epochs(session)
        package, error = None, None
        if hotkey:
            try:
                package = await epoch_service.proof_package(
                    session, number=None, hotkey=hotkey, cache=tree_cache(core)
                )
            except EpochNotFound:
                error = "No reward epoch has been published yet."
            except NotFound:
                error = "This hotkey has no reward in the newest epoch."
    return RewardsView(epochs, hotkey, package, error)


# --- compute -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeView:
    miners: Sequence[ComputeMiner]
    jobs: repository.JobCounts


async def compute(core: Core, *, limit: int) -> ComputeView:
    """GPU miners and the job queue."""
    async with core.sessionmaker() as session:
        miners = await compute_service.list_miners(session)
        jobs = await repository.compute_jobs(session, limit=limit)
    return ComputeView(miners, jobs)


# --- released code ------------------------------------------------------------------------------------

CODE_PREVIEW_BYTES = 512 * 1024


@dataclass(frozen=True)
class CodeView:
    version: AgentVersion
    agent: Agent
    text: str
    truncated: bool


async def agent_code(core: Core, *, version_id: uuid.UUID, now: datetime) -> CodeView:
    """A released agent's code as text (the public API's release rule applies: 403 until released)."""
    async with core.sessionmaker() as session:
        version, owner = await submission_service.get_version(session, version_id=version_id)
        key, _ = await artifacts.locate(
            session, artifact_type="AGENT_CODE", version_id=version_id, run_id=None, problem_id=None, now=now
        )
    data = await core.blobs.get(key)
    text = data[:CODE_PREVIEW_BYTES].decode("utf-8", errors="replace")
    return CodeView(version, owner, text, len(data) > CODE_PREVIEW_BYTES)


# --- artifacts -----------------------------------------------------------------------------------------


async def artifact_url(
    core: Core,
    *,
    artifact_type: str,
    version_id: uuid.UUID,
    run_id: uuid.UUID | None,
    problem_id: uuid.UUID | None,
    base_url: str,
    now: datetime,
) -> str:
    """A short-lived download URL for a released agent's code or a run's logs (the public API's rules)."""
    async with core.sessionmaker() as session:
        key, filename = await artifacts.locate(
            session,
            artifact_type=artifact_type,
            version_id=version_id,
            run_id=run_id,
            problem_id=problem_id,
            now=now,
        )
    return await core.blobs.presign_get(
        key, expires_in=artifacts.URL_TTL_SECONDS, base_url=base_url, filename=filename
    )
