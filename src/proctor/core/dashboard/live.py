"""Live dashboard events: one change feed per process, fanned out to every open page.

Where the events come from: a run claimed, progress written, a run finished, a version eligible, work
queued, an epoch published, a race opened, its qualifying closed, its race completed all land in the
database, which every replica shares. While at least one viewer is connected, a replica's hub polls a
handful of indexed reads (the active runs with their newest result write, the open-queue stamp, the
newest epoch, the open races) every `interval` seconds and turns the differences into events. A RACE
run's events also carry its race's topic, so an open race page follows its runs. Cost is one poll per
replica per interval however many viewers there are, and a change made through any replica reaches the
viewers of every replica, with no broker to run.

Fan-out: each viewer has a bounded queue. A viewer that stops reading (a stalled tab, a slow link)
only fills its own queue; when it is full its backlog is replaced by one `resync` event (the page
then reloads its live region once), so nobody else ever waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from proctor.core.context import Core
from proctor.core.dashboard import repository
from proctor.core.dashboard.repository import ActiveRun, EndedRun, RaceState

log = structlog.get_logger(__name__)

HUB_KEY = "dashboard.hub"
QUEUE_SIZE = 64


@dataclass(frozen=True)
class Event:
    id: int
    # run.claimed | run.progress | run.finished | version.eligible | queue.changed | epoch.published
    # | race.opened | race.started | race.completed | race.cancelled | resync
    kind: str
    topics: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "topics": list(self.topics), **self.data}


def _version_topics(version_id: uuid.UUID, *more: str, race_id: uuid.UUID | None = None) -> tuple[str, ...]:
    race = (f"race:{race_id}",) if race_id is not None else ()
    return (f"version:{version_id}", "runs", *race, *more)


def diff_active(
    before: dict[uuid.UUID, ActiveRun], after: dict[uuid.UUID, ActiveRun]
) -> tuple[list[tuple[str, tuple[str, ...], dict[str, Any]]], list[uuid.UUID]]:
    """Events for runs claimed or changed between two snapshots, and the ids of runs that left."""
    events: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []
    for run_id, run in after.items():
        data = {"run_id": str(run_id), "version_id": str(run.version_id), "validator": run.validator}
        old = before.get(run_id)
        if old is None:
            topics = _version_topics(run.version_id, "validators", "queue", race_id=run.race_id)
            events.append(("run.claimed", topics, data))
        elif (old.status, old.progress_done, old.results_at) != (
            run.status,
            run.progress_done,
            run.results_at,
        ):
            progress = {"progress_done": run.progress_done, "status": run.status}
            topics = _version_topics(run.version_id, race_id=run.race_id)
            events.append(("run.progress", topics, {**data, **progress}))
    return events, [run_id for run_id in before if run_id not in after]


def ended_events(ended: Sequence[EndedRun]) -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
    events: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []
    for run in ended:
        data = {"run_id": str(run.run_id), "version_id": str(run.version_id), "status": run.status}
        topics = _version_topics(run.version_id, "validators", "queue", race_id=run.race_id)
        events.append(("run.finished", topics, data))
        if run.version_state == "ELIGIBLE" and run.race_id is None:  # a race run never changes the state
            events.append(
                (
                    "version.eligible",
                    _version_topics(run.version_id, "leaderboard"),
                    {"version_id": data["version_id"]},
                )
            )
    return events


def _race_topics(race: RaceState, *more: str) -> tuple[str, ...]:
    return ("races", f"race:{race.race_id}", *more)


def diff_races(
    before: dict[uuid.UUID, RaceState], after: dict[uuid.UUID, RaceState]
) -> tuple[list[tuple[str, tuple[str, ...], dict[str, Any]]], list[uuid.UUID]]:
    """Events for races opened or started between two snapshots of the open races, and the ids of
    races that left (completed or cancelled since)."""
    events: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []
    for race_id, race in after.items():
        data = {"race_id": str(race_id), "race_number": race.number, "status": race.status}
        old = before.get(race_id)
        if old is None and race.status == "QUALIFYING_OPEN":
            events.append(("race.opened", _race_topics(race), data))
        elif race.status == "RACE_RUNNING" and (old is None or old.status != "RACE_RUNNING"):
            events.append(("race.started", _race_topics(race, "queue"), data))  # qualifying closed
    return events, [race_id for race_id in before if race_id not in after]


def left_races(races: Sequence[RaceState]) -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
    events: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []
    for race in races:
        data = {"race_id": str(race.race_id), "race_number": race.number, "status": race.status}
        kind = "race.completed" if race.status == "RACE_COMPLETE" else "race.cancelled"
        events.append((kind, _race_topics(race, "leaderboard"), data))  # a race can crown a new top
    return events


class Feed:
    """The last snapshot of what the dashboard watches; `poll` reads the next and returns the changes."""

    def __init__(self) -> None:
        self.active: dict[uuid.UUID, ActiveRun] | None = None
        self.queue: tuple[Any, ...] | None = None
        self.epoch: int | None = None
        self.races: dict[uuid.UUID, RaceState] = {}

    async def poll(self, core: Core) -> list[tuple[str, tuple[str, ...], dict[str, Any]]]:
        async with core.sessionmaker() as session:
            active = {run.run_id: run for run in await repository.active_runs(session)}
            queue = await repository.queue_stamp(session)
            epoch = await repository.latest_epoch(session)
            races = {race.race_id: race for race in await repository.open_races(session)}
            if self.active is None:  # the first poll only sets the baseline
                self.active, self.queue, self.epoch, self.races = active, queue, epoch, races
                return []
            events, left = diff_active(self.active, active)
            events += ended_events(await repository.ended_runs(session, left))
            race_events, gone = diff_races(self.races, races)
            events += race_events + left_races(await repository.race_states(session, gone))
        if queue != self.queue:
            events.append(("queue.changed", ("queue", "runs"), {}))
        if epoch != self.epoch:
            events.append(("epoch.published", ("rewards",), {"epoch": epoch}))
        self.active, self.queue, self.epoch, self.races = active, queue, epoch, races
        return events


class Subscription:
    """One viewer's bounded queue of events."""

    def __init__(self, hub: Hub, size: int) -> None:
        self.hub = hub
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=size)

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            while not self.queue.empty():  # the viewer fell behind: one resync replaces its backlog
                self.queue.get_nowait()
            self.queue.put_nowait(Event(event.id, "resync", ("*",)))

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None after `timeout` seconds without one (time for a keep-alive)."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.hub.unsubscribe(self)


class Hub:
    """The process's fan-out point; the feed runs only while someone is subscribed."""

    def __init__(self, core: Core, *, interval: float, queue_size: int = QUEUE_SIZE) -> None:
        self.core, self.interval, self.queue_size = core, interval, queue_size
        self.subscribers: set[Subscription] = set()
        self.ids = itertools.count(1)
        # Moves with every event and every (re)start of the feed: renders made under one value show
        # everything the feed had seen by then, so pages can share them until it moves.
        self.last_id = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._primed = asyncio.Event()  # the feed has its baseline: later changes become events

    def subscribe(self) -> Subscription:
        subscription = Subscription(self, self.queue_size)
        self.subscribers.add(subscription)
        if self._task is None or self._task.done():
            self._primed.clear()
            self._task = asyncio.create_task(self._run(), name="dashboard-feed")
        return subscription

    async def ready(self, timeout: float = 5.0) -> None:
        """Wait until the feed has read its baseline, so nothing written after this returns is missed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._primed.wait(), timeout)

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)
        if not self.subscribers:
            self._wake.set()  # the feed stops at once instead of polling for nobody

    def publish(self, kind: str, topics: tuple[str, ...], data: dict[str, Any] | None = None) -> Event:
        event = Event(next(self.ids), kind, topics, data or {})
        self.last_id = event.id
        for subscription in list(self.subscribers):
            subscription.offer(event)
        return event

    async def _run(self) -> None:
        feed = Feed()
        self.last_id = next(self.ids)  # whatever happened while nobody watched is not in any render
        while self.subscribers:
            try:
                for kind, topics, data in await feed.poll(self.core):
                    self.publish(kind, topics, data)
            except Exception as exc:  # a database hiccup: keep the pages open, try again next tick
                log.warning("dashboard.feed_failed", error=type(exc).__name__, message=str(exc)[:200])
            self._primed.set()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)


def hub_of(core: Core) -> Hub:
    """The process's hub (created on first use)."""
    hub = core.caches.extra.get(HUB_KEY)
    if hub is None:
        hub = core.caches.extra[HUB_KEY] = Hub(core, interval=core.settings.dashboard_poll_seconds)
    return hub  # type: ignore[no-any-return]
