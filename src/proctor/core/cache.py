"""A small time-bounded cache for read paths whose inputs change rarely (leaderboard totals, top agent).

Entries live at most `ttl` seconds, so several replicas agree within that time; a process that changes
the underlying data clears its own cache at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(
        self, ttl: float, *, maxsize: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.maxsize, self._clock = ttl, maxsize, clock
        self._items: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable) -> V | None:
        item = self._items.get(key)
        if item is None or self._clock() - item[0] >= self.ttl:
            return None
        return item[1]

    def put(self, key: Hashable, value: V) -> V:
        if len(self._items) >= self.maxsize:
            self._items.clear()  # bounded by hand: the working set is a handful of suites and queries
        self._items[key] = (self._clock(), value)
        return value

    def clear(self) -> None:
        self._items.clear()


class Generation:
    """A counter bumped whenever this process changes what cached score views show.

    Caches of rendered answers put it in their keys, so a local change is seen at once without each
    cache having to be found and cleared.
    """

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


class Caches:
    """Every read cache of one database, owned by the process's `Database` (never module-level).

    Sessions reach it through `caches_of(session)`, the executor's flows through `core.caches`; two
    databases in one process (tests, the standalone claim app) never share entries.
    """

    def __init__(self) -> None:
        self.scores = Generation()  # eligibility, rankings, the top agent
        self.problem_ids: TTLCache[frozenset[Any]] = TTLCache(3600, maxsize=64)
        # A run's (suite id, is a race run): fixed when the run is written, so progress can check its
        # problem ids before touching the database. A miss (another replica claimed it) reads the run.
        self.run_scopes: TTLCache[tuple[int, bool]] = TTLCache(3600, maxsize=100_000)
        self.top_views: TTLCache[Any] = TTLCache(2.0, maxsize=64)
        self.rendered: TTLCache[bytes] = TTLCache(2.0, maxsize=512)
        self.rankings: dict[int, Any] = {}
        self.ranking_checked: TTLCache[bool] = TTLCache(2.0, maxsize=64)
        self.searches: TTLCache[tuple[list[int], int]] = TTLCache(10.0, maxsize=256)
        self.recent: TTLCache[int] = TTLCache(10.0, maxsize=4)
        self.extra: dict[str, Any] = {}  # per-domain objects created on first use (e.g. the claim trees)

    def scores_changed(self) -> None:
        """This process changed eligibility or the top: drop rankings, totals and rendered views."""
        self.rankings.clear()
        self.ranking_checked.clear()
        self.searches.clear()
        self.recent.clear()
        self.top_views.clear()
        self.scores.bump()


def caches_of(session: Any) -> Caches:
    """The caches of the database behind an ORM session (see `storage.db.create_sessionmaker`)."""
    caches = session.info.get("caches")
    if caches is None:
        caches = session.info["caches"] = Caches()
    return caches  # type: ignore[no-any-return]
