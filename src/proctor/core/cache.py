"""A small time-bounded cache for read paths whose inputs change rarely (leaderboard totals, top agent).

Entries live at most `ttl` seconds, so several replicas agree within that time; a process that changes
the underlying data clears its own cache at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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


def scope_of(session: object) -> str:
    """A cache-key prefix naming the database behind a session: one process may serve several."""
    bind = session.get_bind()  # type: ignore[attr-defined]
    return str(bind.url)


class Generation:
    """A counter bumped whenever this process changes what cached score views show.

    Caches of rendered answers put it in their keys, so a local change is seen at once without each
    cache having to be found and cleared.
    """

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> None:
        self.value += 1


SCORES = Generation()  # eligibility, rankings, the top agent
