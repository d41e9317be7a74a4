"""The weights a validator sets after a race, from the race's finishers (pure: no session, no clock).

Finishers are the qualifiers of the latest completed race with a race score and a hotkey. They are
ranked by race score, highest first, ties by the smaller agent version id (every validator must
reach the same order). The paid set is the top half of that ranking, rounded up, so at least the
winner. Shares, always summing to 1:

- the first finisher gets `1 - burn`;
- the rest of the paid set gets a small linear taper (the last paid finisher 1 unit, the one above it
  2, …; a unit is 1/65535, the chain's u16 weight resolution), enough to keep their registrations
  alive between races. The taper comes out of the burn share; when the burn share is smaller than
  the taper, the first finisher's share gives up the difference;
- what is left is burned (UID 0).

With no finisher there is nothing to set: validators skip the tick (the result is empty).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

UNIT = 1 / 65535  # one u16 step of an on-chain weight vector
BURN = "burn (uid 0)"


@dataclass(frozen=True)
class Finisher:
    miner_hotkey: str
    agent_version_id: str
    race_score: float


@dataclass(frozen=True)
class Share:
    rank: int | None  # None for the burn
    miner_hotkey: str  # `BURN` for the burn
    race_score: float | None
    weight: float


def ranked(finishers: Iterable[Finisher]) -> list[Finisher]:
    return sorted(finishers, key=lambda f: (-f.race_score, f.agent_version_id))


def split(finishers: Iterable[Finisher], *, burn: float) -> list[Share]:
    """The weight vector for a race's finishers (see the module docstring); [] when none finished."""
    if not 0.0 <= burn <= 1.0:
        raise ValueError("burn must be between 0 and 1")
    order = ranked(finishers)
    if not order:
        return []
    paid = order[: math.ceil(len(order) / 2)]
    tail = paid[1:]
    taper = [(len(tail) - i) * UNIT for i in range(len(tail))]
    top = min(1.0 - burn, 1.0 - sum(taper))
    weights = [top, *taper] + [0.0] * (len(order) - len(paid))  # the unpaid half gets nothing
    shares = [
        Share(rank, f.miner_hotkey, f.race_score, w)
        for rank, (f, w) in enumerate(zip(order, weights, strict=True), start=1)
    ]
    left = 1.0 - sum(s.weight for s in shares)
    if left > 1e-12:
        shares.append(Share(None, BURN, None, left))
    return shares
