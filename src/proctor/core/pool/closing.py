"""Statements for closing a window (consensus, points, reputation); built once at import."""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select, update

from proctor.core.pool.statements import AS, A, E, M, W, _p, _t
from proctor.models import PoolWindowPoints

WP = _t(PoolWindowPoints)

# Every evaluation of a not yet settled candidate evaluated in or before the window.
OPEN_EVALUATIONS = (
    select(E.c.algorithm_id, E.c.miner_hotkey, E.c.score, A.c.submitter_hotkey, A.c.task_type)
    .join(A, A.c.id == E.c.algorithm_id)
    .where(A.c.consensus_window.is_(None), E.c.window_number <= _p("window", E.c.window_number))
    .order_by(E.c.algorithm_id, E.c.miner_hotkey)
)
SOTA_BEFORE = (
    select(A.c.task_type, func.max(A.c.consensus_score).label("best"))
    .where(A.c.consensus_window < _p("window", A.c.consensus_window), A.c.consensus_score.is_not(None))
    .group_by(A.c.task_type)
)
WINDOW_EVALUATIONS = (
    select(E.c.miner_hotkey, func.count().label("n"))
    .where(E.c.window_number == _p("window", E.c.window_number))
    .group_by(E.c.miner_hotkey)
)
WINDOW_EVOLUTIONS = (
    select(
        AS.c.miner_hotkey,
        func.sum(AS.c.evolutions_n).label("evolutions"),
        func.sum(AS.c.repeats_n).label("repeats"),
    )
    .where(AS.c.window_number == _p("window", AS.c.window_number), AS.c.status == "COMPLETED")
    .group_by(AS.c.miner_hotkey)
)
SETTLE = (
    update(A)
    .where(A.c.id == _p("algorithm_id", A.c.id), A.c.consensus_window.is_(None))
    .values(
        consensus_score=_p("score", A.c.consensus_score), consensus_window=_p("window", A.c.consensus_window)
    )
)
NEW_WINDOW = insert(W).values(
    number=_p("window", W.c.number),
    closed_at=_p("now", W.c.closed_at),
    algorithms_settled=_p("settled", W.c.algorithms_settled),
    algorithms_scored=_p("scored", W.c.algorithms_scored),
    sota_before=_p("sota", W.c.sota_before),
    total_points=_p("total", W.c.total_points),
)
NEW_POINTS = insert(WP).values(
    window_number=_p("window", WP.c.window_number),
    **{
        name: bindparam(name, type_=WP.c[name].type)
        for name in (
            "hotkey",
            "agreements",
            "disagreements",
            "evaluations",
            "evolutions",
            "repeats",
            "evaluator_points",
            "evolver_points",
            "penalty_points",
            "in_consensus",
            "points",
        )
    },
)
REPUTATION = (
    update(M)
    .where(M.c.hotkey == _p("miner", M.c.hotkey))
    .values(reputation=M.c.reputation + _p("points", M.c.reputation))
)
