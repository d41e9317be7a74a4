"""Race statements on the fast executor (bind parameters filled per call), used inside the evaluation
flows' transactions: a RACE work item settling, and a race completing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, func, select, update

from proctor.models import AgentVersion, Race, RaceElimination, RaceProblem, RaceQualifier, WorkItem


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


RA, Q, W, V = _t(Race), _t(RaceQualifier), _t(WorkItem), _t(AgentVersion)
E, RP = _t(RaceElimination), _t(RaceProblem)


def _p(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


# Serialises a race's completion: whoever settles an item (or the deadline job) holds it while counting.
LOCK_RACE = select(RA).where(RA.c.id == _p("rid", RA.c.id)).with_for_update()

QUALIFIER_RESULT = (
    update(Q)
    .where(Q.c.race_id == _p("rid", Q.c.race_id), Q.c.work_item_id == _p("item_id", Q.c.work_item_id))
    .values(race_score=_p("score", Q.c.race_score), outcome=_p("result", Q.c.outcome))
)

OPEN_ITEMS = select(W.c.id).where(
    W.c.race_id == _p("rid", W.c.race_id), W.c.phase == "RACE", W.c.status == "OPEN"
)

STRAGGLERS = (
    update(W)
    .where(W.c.race_id == _p("rid", W.c.race_id), W.c.phase == "RACE", W.c.status == "OPEN")
    .values(status="DISCARDED", closed_at=_p("now", W.c.closed_at))
)

STRAGGLER_QUALIFIERS = (
    update(Q).where(Q.c.race_id == _p("rid", Q.c.race_id), Q.c.outcome.is_(None)).values(outcome="STRAGGLER")
)

FIELD = (
    select(Q, V.c.eligible_at)
    .join(V, V.c.id == Q.c.agent_version_id)
    .where(Q.c.race_id == _p("rid", Q.c.race_id))
)

RANK = (
    update(Q)
    .where(
        Q.c.race_id == _p("rid", Q.c.race_id),
        Q.c.agent_version_id == _p("version_id", Q.c.agent_version_id),
    )
    .values(race_rank=_p("rank", Q.c.race_rank))
)

COMPLETE = (
    update(RA)
    .where(RA.c.id == _p("rid", RA.c.id), RA.c.status == "RACE_RUNNING")
    .values(
        status="RACE_COMPLETE",
        race_completed_at=_p("now", RA.c.race_completed_at),
        winner_agent_version_id=_p("winner", RA.c.winner_agent_version_id),
        winner_score=_p("best", RA.c.winner_score),
    )
)

ELIMINATED = select(E.c.agent_version_id).where(
    E.c.agent_version_id == _p("version_id", E.c.agent_version_id)
)

ELIMINATE = E.insert().values(
    agent_version_id=_p("version_id", E.c.agent_version_id),
    race_id=_p("rid", E.c.race_id),
    race_number=_p("rnum", E.c.race_number),
    eliminated_at=_p("now", E.c.eliminated_at),
)

BANK_IDS = select(RP.c.problem_id).where(RP.c.suite_id == _p("suite_id", RP.c.suite_id))

DEADLINE_PASSED = select(RA.c.id).where(
    RA.c.status == "RACE_RUNNING", RA.c.race_deadline_at <= _p("now", RA.c.race_deadline_at)
)

BANK_SIZE = select(func.count()).select_from(RP).where(RP.c.suite_id == _p("suite_id", RP.c.suite_id))

# Cancelling a race (an operator): its open items end, unfinished qualifiers are marked, the race closes.
CANCEL_ITEMS = (
    update(W)
    .where(W.c.race_id == _p("rid", W.c.race_id), W.c.phase == "RACE", W.c.status == "OPEN")
    .values(status="DISCARDED", closed_at=_p("now", W.c.closed_at))
    .returning(W.c.id)
)

CANCEL_QUALIFIERS = (
    update(Q).where(Q.c.race_id == _p("rid", Q.c.race_id), Q.c.outcome.is_(None)).values(outcome="CANCELLED")
)

CANCEL_RACE = (
    update(RA)
    .where(RA.c.id == _p("rid", RA.c.id), RA.c.status.in_(("QUALIFYING_OPEN", "RACE_RUNNING")))
    .values(status="CANCELLED", cancelled_at=_p("now", RA.c.cancelled_at))
)
