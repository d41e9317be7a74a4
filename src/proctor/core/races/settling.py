"""A RACE work item settling, and a race completing, inside the evaluation flows' transaction.

A race item closes like a qualifying one (enough successes from distinct validators, scores combined
by the evaluation aggregation) but its score is the qualifier's `race_score`; it never changes the
version's state. Enough failures end the item without a score. When no item of the race is open any
more, the race completes (under the race's row lock, so of two validators finishing the last two items
at once exactly one completes it); a deadline job completes it with the stragglers marked.

Ranking (deterministic): race_score descending; ties go to the INCUMBENT, then the higher
qualifying score, then the earlier eligibility, then the smaller version id. The winner is decided by
the evaluation's margin rule against the incumbent's own race score (both ran the same hidden
problems): the best challenger wins only if it `dethrones` the incumbent; an incumbent that did not
finish is no obstacle. The winner becomes the suite's top agent (its race score recorded); every
other qualifier is eliminated from future races. A race with no finisher completes without a winner
and eliminates nobody.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from proctor.core.evaluations import statements as est
from proctor.core.evaluations.aggregation import Contender, aggregate, dethrones
from proctor.core.races import statements as st
from proctor.storage.sql import Tx

_MIN_ID = uuid.UUID(int=0)


async def settle_item(
    tx: Tx, item: Any, *, aggregation: str, max_failures: int, margin: float, now: datetime
) -> Any:
    """Settle a RACE item whose counts just changed (under its row lock); returns it as it now stands."""
    if item.status != "OPEN":
        return item
    if item.success_count >= item.required_successes:
        scores = [float(r.validator_score) for r in await tx.all(est.INCLUDED_SCORES, {"item_id": item.id})]
        score = aggregate(scores, aggregation)
        await tx.run(est.ITEM_CLOSE, {"item_id": item.id, "status": "CLOSED", "now": now, "score": score})
        outcome: tuple[float | None, str] = (score, "FINISHED")
    elif item.failure_count >= max_failures:
        await tx.run(est.ITEM_CLOSE, {"item_id": item.id, "status": "DISCARDED", "now": now, "score": None})
        outcome = (None, "FAILED")
    else:
        return item
    await tx.run(
        st.QUALIFIER_RESULT,
        {"rid": item.race_id, "item_id": item.id, "score": outcome[0], "result": outcome[1]},
    )
    race = await tx.one(st.LOCK_RACE, {"rid": item.race_id})
    if (
        race is not None
        and race.status == "RACE_RUNNING"
        and not await tx.all(st.OPEN_ITEMS, {"rid": item.race_id})
    ):
        await complete(tx, race, margin=margin, now=now)
    return await tx.one(est.ITEM, {"item_id": item.id})


@dataclass(frozen=True)
class Result:
    race_id: uuid.UUID
    winner: uuid.UUID | None
    winner_score: float | None
    top_changed: bool


def ranking(field: list[Any]) -> list[Any]:
    """Finishers in race order (see the module docstring for the tie-breaks)."""
    finishers = [q for q in field if q.race_score is not None]
    return sorted(
        finishers,
        key=lambda q: (
            -q.race_score,
            q.qualification_type != "INCUMBENT",
            -(q.qualifying_score if q.qualifying_score is not None else -1.0),
            q.eligible_at.timestamp() if q.eligible_at is not None else float("inf"),
            str(q.agent_version_id),
        ),
    )


def winner_of(ordered: list[Any], margin: float) -> Any | None:
    """The race's winner: the incumbent keeps it unless the best challenger clears the margin."""
    if not ordered:
        return None
    incumbent = next((q for q in ordered if q.qualification_type == "INCUMBENT"), None)
    best = next((q for q in ordered if q.qualification_type != "INCUMBENT"), None)
    if incumbent is None:
        return ordered[0]
    if best is None:
        return incumbent
    challenger = Contender(best.agent_version_id, float(best.race_score))
    holder = Contender(incumbent.agent_version_id, float(incumbent.race_score))
    return best if dethrones(challenger, holder, margin) else incumbent


async def complete(tx: Tx, race: Any, *, margin: float, now: datetime) -> Result:
    """Complete a RACE_RUNNING race (its row locked by the caller): stragglers, ranks, winner, top,
    eliminations."""
    await tx.run(st.STRAGGLERS, {"rid": race.id, "now": now})
    await tx.run(st.STRAGGLER_QUALIFIERS, {"rid": race.id})
    field = list(await tx.all(st.FIELD, {"rid": race.id}))
    ordered = ranking(field)
    for rank, q in enumerate(ordered, start=1):
        await tx.run(st.RANK, {"rid": race.id, "version_id": q.agent_version_id, "rank": rank})
    winner = winner_of(ordered, margin)
    top_changed = False
    if winner is not None:
        score = float(winner.race_score)
        await tx.one(est.LOCK_SUITE, {"suite_id": race.suite_id})
        current = await tx.one(est.INCUMBENT, {"suite_id": race.suite_id})
        if current is None or current.agent_version_id != winner.agent_version_id:
            if current is not None:
                await tx.run(est.END_TOP, {"top_id": current.id, "now": now})
            await tx.run(
                est.NEW_TOP,
                {
                    "suite_id": race.suite_id,
                    "version_id": winner.agent_version_id,
                    "score": score,
                    "now": now,
                },
            )
            top_changed = True
        for q in field:
            if q.agent_version_id == winner.agent_version_id:
                continue
            if await tx.one(st.ELIMINATED, {"version_id": q.agent_version_id}) is None:
                await tx.run(
                    st.ELIMINATE,
                    {
                        "version_id": q.agent_version_id,
                        "rid": race.id,
                        "rnum": race.number,
                        "now": now,
                    },
                )
    await tx.run(
        st.COMPLETE,
        {
            "rid": race.id,
            "now": now,
            "winner": winner.agent_version_id if winner else None,
            "best": float(winner.race_score) if winner else None,
        },
    )
    return Result(
        race.id,
        winner.agent_version_id if winner else None,
        float(winner.race_score) if winner else None,
        top_changed,
    )


async def bank_ids(core: Any, tx: Tx, suite_id: int) -> frozenset[uuid.UUID]:
    """A suite's hidden race-bank problem ids (a bank is imported once, so a non-empty set is final)."""
    cache = core.caches.problem_ids
    key = ("race", suite_id)
    found: frozenset[uuid.UUID] | None = cache.get(key)
    if found is None:
        found = frozenset(r.problem_id for r in await tx.all(st.BANK_IDS, {"suite_id": suite_id}))
        if found:
            cache.put(key, found)
    return found
