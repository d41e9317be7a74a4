"""The evaluation lifecycle's statements, built once at import (bind parameters filled per call).

They run on the fast executor (`proctor.storage.sql`); the run's lease transitions themselves are the
lease engine's (`RUNS` and `CLAIM` below). Every insert names every NOT NULL column: the executor does
not apply the ORM's Python-side defaults.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from proctor.core import leases
from proctor.core.admin.statements import CLAIMS_ARE_PAUSED
from proctor.models import (
    AgentVersion,
    EvaluationRun,
    HotkeyBan,
    InferenceCredential,
    Problem,
    RunProblemResult,
    Suite,
    TopHistory,
    ValidatorSetting,
    ValidatorState,
    WorkItem,
)
from proctor.models.evaluations import ACTIVE_RUN_STATUSES


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


W, R, V = _t(WorkItem), _t(EvaluationRun), _t(AgentVersion)
P, VS, TH = _t(RunProblemResult), _t(ValidatorState), _t(TopHistory)
S, B, C, PR = _t(Suite), _t(HotkeyBan), _t(InferenceCredential), _t(Problem)
VSET = _t(ValidatorSetting)

FINISHED_RUN = frozenset({"SUCCESS", "FAILED", "TIMED_OUT"})
DONE_PROBLEM = ("SUCCESS", "FAILED", "TIMED_OUT", "SKIPPED")

RUNS = leases.LeaseKind(
    name="evaluation run",
    table=R,
    owner="validator_hotkey",
    live=frozenset(ACTIVE_RUN_STATUSES),
    finished=FINISHED_RUN,
    expired="STALE",
    cancelled=frozenset({"CANCELLED"}),
    work_ref="work_item_id",
)


def _p(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


# --- claim ------------------------------------------------------------------------------------------

_already_ran = exists().where(
    R.c.work_item_id == W.c.id,
    R.c.validator_hotkey == _p("validator", R.c.validator_hotkey),
    R.c.status.not_in(("STALE", "CANCELLED")),
)
_has_credential = exists().where(C.c.hotkey == V.c.miner_hotkey)
_held = R.alias("held")
# The claimer holds a live or lapsed-but-unreaped run: it is answered (or freed) by the claim flow,
# and the common plan writes no new run beside it (a validator with more slots claims those through
# CLAIM_EXTRA_SLOT).
_holds_a_run = exists().where(
    _held.c.validator_hotkey == _p("validator", R.c.validator_hotkey),
    _held.c.status.in_(ACTIVE_RUN_STATUSES),
)


def _claim_plan(*, extra_slot: bool) -> leases.ClaimPlan:
    """The claim: the oldest open item this validator has not run that still needs a validator.

    The common plan (a validator holding no run) writes the run in slot 0. The extra-slot plan is for a
    validator with `max_concurrent_runs` > 1 that holds fewer than that: it writes the run in the free
    slot the flow names (`:slot`, under the validator's setting row lock), and the unique index on
    (validator, slot) over live runs is the guarantee that a validator never holds more than its limit.
    """
    where = [
        W.c.status == "OPEN",
        W.c.success_count + W.c.active_count < W.c.required_successes,
        ~_already_ran,
        ~CLAIMS_ARE_PAUSED,  # an operator paused new claims (ORO answers 204); running leases carry on
    ]
    if not extra_slot:
        where.append(~_holds_a_run)
    slot: Any = _p("slot", R.c.slot) if extra_slot else 0
    return leases.ClaimPlan(
        kind=RUNS,
        work=W,
        candidates=select(
            W.c.id,
            W.c.agent_version_id,
            W.c.suite_id,
            W.c.race_id,
            W.c.active_count,
            V.c.miner_hotkey,
            V.c.blob_key,
            V.c.state.label("version_state"),
            _has_credential.label("has_credential"),
        )
        .join(V, V.c.id == W.c.agent_version_id)
        .where(*where)
        .order_by(W.c.queued_at, W.c.id),
        work_values={"active_count": W.c.active_count + 1},
        lease_values=lambda c: {
            "id": _p("run_id", R.c.id),
            "work_item_id": c.id,
            "agent_version_id": c.agent_version_id,
            "suite_id": c.suite_id,
            "race_id": c.race_id,
            "validator_hotkey": _p("validator", R.c.validator_hotkey),
            "slot": slot,
            "status": "CLAIMED",
            "claimed_at": _p("now", R.c.claimed_at),
            "lease_expires_at": _p("expires", R.c.lease_expires_at),
            "service_versions": _p("service_versions", R.c.service_versions),
            "is_included": True,
            "progress_done": 0,
            "progress_total": 0,
        },
        extra=(
            "agent_version_id",
            "active_count",
            "miner_hotkey",
            "blob_key",
            "version_state",
            "has_credential",
        ),
        # The version's first claim starts its evaluation, in the claim's own statement.
        also=lambda c: (
            update(V)
            .where(V.c.id == c.agent_version_id, V.c.state.in_(("QUEUED", "RECEIVED")))
            .values(state="RUNNING")
        ),
    )


CLAIM = _claim_plan(extra_slot=False)
CLAIM_EXTRA_SLOT = _claim_plan(extra_slot=True)

# The validator's `max_concurrent_runs` (no row: 1), locking its setting row so that the claims of one
# validator with several slots are serialised while each picks a free slot.
MAX_RUNS = (
    select(VSET.c.max_concurrent_runs)
    .where(VSET.c.hotkey == _p("validator", VSET.c.hotkey))
    .with_for_update()
)

# The validator's live (or lapsed but not yet reaped) runs, oldest first, with what a claim answer needs.
HELD_RUN = (
    select(
        R,
        V.c.miner_hotkey.label("miner_hotkey"),
        V.c.blob_key.label("blob_key"),
        _has_credential.label("has_credential"),
    )
    .join(V, V.c.id == R.c.agent_version_id)
    .where(R.c.validator_hotkey == _p("validator", R.c.validator_hotkey), R.c.status.in_(ACTIVE_RUN_STATUSES))
    .order_by(R.c.claimed_at, R.c.id)
)

# --- validators seen ---------------------------------------------------------------------------------

_SEEN_COLUMNS = (
    "last_seen_at",
    "last_claim_at",
    "service_versions",
    "cpu_pct",
    "ram_pct",
    "disk_pct",
    "docker_container_count",
    "metrics_reported_at",
)


def _seen_upsert(insert: Any) -> Any:
    values = {"hotkey": _p("hotkey", VS.c.hotkey), "first_seen_at": _p("now", VS.c.first_seen_at)}
    values.update({name: _p(name, VS.c[name]) for name in _SEEN_COLUMNS})
    statement = insert(VS).values(values)
    # A value the validator did not report this time (NULL) keeps what was stored.
    changed = {name: func.coalesce(statement.excluded[name], VS.c[name]) for name in _SEEN_COLUMNS}
    return statement.on_conflict_do_update(index_elements=[VS.c.hotkey], set_=changed)


SEEN = {"postgresql": _seen_upsert(postgresql.insert), "sqlite": _seen_upsert(sqlite.insert)}

# --- progress ------------------------------------------------------------------------------------------

MERGED_FIELDS = (
    "score",
    "score_components_summary",
    "logs_s3_key",
    "reasoning_score",
    "inference_failure_count",
    "inference_total",
    "execution_time",
)


def _result_upsert(insert: Any) -> Any:
    values = {
        "run_id": _p("run_id", P.c.run_id),
        "problem_id": _p("problem_id", P.c.problem_id),
        "status": _p("status", P.c.status),
        "updated_at": _p("now", P.c.updated_at),
    }
    values.update({name: _p(name, P.c[name]) for name in MERGED_FIELDS})
    return _merged(insert(P).values(values))


def _merged(statement: Any) -> Any:
    """An insert of results that merges into a stored one: a field a later update omits (or sends as
    null) is never wiped."""
    changed = {name: func.coalesce(statement.excluded[name], P.c[name]) for name in MERGED_FIELDS}
    changed.update(status=statement.excluded.status, updated_at=statement.excluded.updated_at)
    return statement.on_conflict_do_update(index_elements=[P.c.run_id, P.c.problem_id], set_=changed)


RESULT_UPSERT = {"postgresql": _result_upsert(postgresql.insert), "sqlite": _result_upsert(sqlite.insert)}


def _progress_merge_pg() -> Any:
    """PostgreSQL's progress write for a run whose problems are known, one statement that commits by
    itself: the owner's live run is written through the lease's guard (its progress counts), and every
    update merges into the run's results. The updates travel as one JSON array (`jsonb_to_recordset`,
    sent as text and cast: encoded once), so any number of problems is one parameter and one round
    trip. One row (the run's id) when the guard held; none when it missed (the flow then says why).

    The done count is the stored results the updates do not touch plus the updates themselves (the
    merge's own rows are not visible to the statement). A report racing another report of the same
    run may count without the other's new problems; the run's next report counts them.
    """
    columns = ("problem_id", "status", *MERGED_FIELDS)
    given = (
        select(
            func.jsonb_to_recordset(cast(bindparam("updates", type_=Text()), postgresql.JSONB()))
            .table_valued(*(column(name, P.c[name].type) for name in columns))
            .render_derived(name="given", with_types=True)
        ).cte("given")  # the JSON is decoded once
    )
    given_ids = select(given.c.problem_id).scalar_subquery()
    untouched_done = (
        select(func.count())
        .select_from(P)
        .where(P.c.run_id == R.c.id, P.c.status.in_(DONE_PROBLEM), P.c.problem_id.not_in(given_ids))
        .scalar_subquery()
    )
    given_done = select(func.count()).select_from(given).where(given.c.status.in_(DONE_PROBLEM))
    held = RUNS.write_stmt(
        {
            "progress_total": _p("total", R.c.progress_total),
            "progress_done": untouched_done + given_done.scalar_subquery(),
        }
    ).cte("held")
    merged = _merged(
        postgresql.insert(P).from_select(
            ["run_id", "updated_at", *columns],
            select(held.c.id, _p("now", P.c.updated_at), *(given.c[name] for name in columns)).select_from(
                held.join(given, true())
            ),
        )
    )
    return select(held.c.id).add_cte(merged.cte("merged"))


PROGRESS_MERGE_PG = _progress_merge_pg()

RUN_PROGRESS = (
    update(R)
    .where(R.c.id == _p("run_id", R.c.id))
    .values(
        progress_total=_p("total", R.c.progress_total),
        progress_done=select(func.count())
        .select_from(P)
        .where(P.c.run_id == _p("run_id", P.c.run_id), P.c.status.in_(DONE_PROBLEM))
        .scalar_subquery(),
    )
)


SUITE_PROBLEM_IDS = select(PR.c.problem_id).where(PR.c.suite_id == _p("suite_id", PR.c.suite_id))

# --- completion and settling ----------------------------------------------------------------------------


def count_finished_run(run: Any) -> Any:
    """The work item counts its run's end (a `leases.Then`): one fewer active, one more success or
    failure. On PostgreSQL it is part of the run's finish statement."""
    succeeded = run.status == "SUCCESS"
    return (
        update(W)
        .where(W.c.id == run.work_item_id)
        .values(
            active_count=case((W.c.active_count > 0, W.c.active_count - 1), else_=0),
            success_count=W.c.success_count + case((succeeded, 1), else_=0),
            failure_count=W.c.failure_count + case((succeeded, 0), else_=1),
        )
        .returning(*W.c)
    )


def _idle(version_id: Any, active: Any) -> Any:
    """An open item's version is RUNNING while somebody is on it, QUEUED again when nobody is."""
    return (
        update(V)
        .where(V.c.id == version_id, V.c.state.in_(("QUEUED", "RUNNING")))
        .values(state=case((active > 0, literal("RUNNING")), else_=literal("QUEUED")))
    )


def _idle_version(item: Any) -> Any:
    """`_idle` keyed on the item a finish just counted (a race qualifier's version keeps its state)."""
    return _idle(item.agent_version_id, item.active_count).where(item.status == "OPEN", item.phase != "RACE")


def _included(item_id: Any) -> list[Any]:
    """The runs whose scores make an item's final score."""
    return [
        R.c.work_item_id == item_id,
        R.c.status == "SUCCESS",
        R.c.is_included.is_(true()),
        R.c.validator_score.is_not(None),
    ]


def _scores_when_decided(item: Any) -> dict[str, Any]:
    """The item's included scores (without the run being finished: the statement's snapshot predates
    it), read only once its counts reach the required successes."""
    included = select(func.array_agg(R.c.validator_score)).where(*_included(item.id)).scalar_subquery()
    return {"scores": case((item.success_count >= item.required_successes, included), else_=None)}


# A run's finish counts it on its work item and idles its version, in the finish's one statement.
COUNT_RUN = leases.Then(update=count_finished_run, also=_idle_version, reads=_scores_when_decided)

ITEM_RELEASE = (
    update(W)
    .where(W.c.id == _p("item_id", W.c.id))
    .values(active_count=case((W.c.active_count > 0, W.c.active_count - 1), else_=0))
    .returning(W)
)

INCLUDED_SCORES = select(R.c.validator_score).where(*_included(_p("item_id", R.c.work_item_id)))

ITEM_CLOSE = (
    update(W)
    .where(W.c.id == _p("item_id", W.c.id), W.c.status == "OPEN")
    .values(
        status=_p("status", W.c.status),
        closed_at=_p("now", W.c.closed_at),
        final_score=_p("score", W.c.final_score),
    )
    .returning(*W.c)
)

# Closes an item only as it was read: still open, with the counts its decision was made on. A run
# counted since (or another closer) makes it match nothing, and the closer reads the item again.
ITEM_DECIDE = ITEM_CLOSE.where(
    W.c.success_count == _p("successes", W.c.success_count),
    W.c.failure_count == _p("failures", W.c.failure_count),
)
ITEM_LOCK = select(W).where(W.c.id == _p("item_id", W.c.id)).with_for_update()

# Open items whose counts already decide them: what a completion left unsettled when its process died
# between counting the run and closing the item (the reaper settles them).
UNSETTLED = (
    select(W)
    .where(
        W.c.status == "OPEN",
        (W.c.success_count >= W.c.required_successes)
        | (W.c.failure_count >= _p("max_failures", W.c.failure_count)),
    )
    .limit(100)
)

_ELIGIBLE = {
    "state": "ELIGIBLE",
    "final_score": _p("score", V.c.final_score),
    "eligible_at": _p("now", V.c.eligible_at),
    "code_available_at": _p("release_at", V.c.code_available_at),
}
_DISCARDED = {
    "state": "DISCARDED",
    "discarded_at": _p("now", V.c.discarded_at),
    "discard_reason": _p("reason", V.c.discard_reason),
}
VERSION_ELIGIBLE = update(V).where(V.c.id == _p("version_id", V.c.id)).values(_ELIGIBLE)
VERSION_DISCARDED = update(V).where(V.c.id == _p("version_id", V.c.id)).values(_DISCARDED)


def _decide_with_version(values: dict[str, Any]) -> Any:
    """PostgreSQL: ITEM_DECIDE and its version's new state in one statement that commits by itself
    (the version written only when the item closed)."""
    closed = ITEM_DECIDE.cte("closed")
    version = update(V).where(V.c.id == closed.c.agent_version_id).values(values).cte("version")
    return select(closed).add_cte(version)


CLOSE_ELIGIBLE = _decide_with_version(_ELIGIBLE)
CLOSE_DISCARDED = _decide_with_version(_DISCARDED)

VERSION_IDLE = _idle(_p("version_id", V.c.id), _p("active", W.c.active_count))

# --- the top agent ---

# Serialises top decisions per suite. FOR NO KEY UPDATE does not conflict with the key-share locks
# that inserting runs (which reference the suite) take, so claims never wait on it.
LOCK_SUITE = select(S.c.id).where(S.c.id == _p("suite_id", S.c.id)).with_for_update(key_share=True)

INCUMBENT = (
    select(
        TH.c.id,
        TH.c.agent_version_id,
        TH.c.score,
        V.c.state.label("version_state"),
        exists().where(B.c.hotkey == V.c.miner_hotkey).label("banned"),
    )
    .join(V, V.c.id == TH.c.agent_version_id)
    .where(TH.c.suite_id == _p("suite_id", TH.c.suite_id), TH.c.ended_at.is_(None))
    .order_by(TH.c.top_at.desc(), TH.c.id.desc())
    .limit(1)
)

END_TOP = update(TH).where(TH.c.id == _p("top_id", TH.c.id)).values(ended_at=_p("now", TH.c.ended_at))

NEW_TOP = TH.insert().values(
    suite_id=_p("suite_id", TH.c.suite_id),
    agent_version_id=_p("version_id", TH.c.agent_version_id),
    score=_p("score", TH.c.score),
    top_at=_p("now", TH.c.top_at),
)

# --- reads for runs ----------------------------------------------------------------------------------------

RUN = select(R).where(R.c.id == _p("run_id", R.c.id))
ITEM = select(W).where(W.c.id == _p("item_id", W.c.id))
RUN_OF_VALIDATOR = select(R).where(
    and_(R.c.id == _p("run_id", R.c.id), R.c.validator_hotkey == _p("validator", R.c.validator_hotkey))
)
