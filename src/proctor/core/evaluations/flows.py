"""The evaluation lifecycle as flows: what a validator's claim, heartbeat, progress, upload and
completion do, each owning its unit of work (one transaction unless a step says why not).

An accepted version is a work item needing `required_successes` successful runs from distinct
validators. A claim takes the oldest open item the validator has not run and writes a run leased to
it (the lease engine's `claim`, one statement on PostgreSQL); heartbeats renew the lease; progress
merges per problem; completion finishes the lease and settles the item: enough successes close it
(the version becomes ELIGIBLE with the aggregate score and may take the top spot), enough failures
discard it. Lapsed runs are reaped as STALE and their slot goes back to the queue.

Every statement here is prebuilt (`statements.py`) and runs on the fast executor. Effects outside
the database (cache invalidation, provider calls, presigning) happen after the commit.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from proctor.core import leases
from proctor.core.context import Core
from proctor.core.credentials import service as credential_service
from proctor.core.credentials.providers import InferenceGrant
from proctor.core.evaluations import service as evaluation_service
from proctor.core.evaluations import statements as st
from proctor.core.evaluations.aggregation import Contender, aggregate, dethrones, valid_score
from proctor.core.evaluations.service import AtCapacity, HostReport, Policy, ProblemUpdate, policy_from
from proctor.core.races import settling as races_settling
from proctor.errors import BadRequest, NotFound, ValidationFailed
from proctor.models import Problem
from proctor.storage.blobs import PresignedUpload
from proctor.storage.sql import Tx, UniqueViolation, rerun

RUNS = st.RUNS
CODE_URL_TTL_SECONDS = 3600
UPLOAD_URL_TTL_SECONDS = 900


def policy(core: Core) -> Policy:
    """The evaluation policy of this process's settings (built once)."""
    found = core.caches.extra.get("evaluation.policy")
    if found is None:
        found = core.caches.extra["evaluation.policy"] = policy_from(core.settings)
    return found  # type: ignore[no-any-return]


# --- claim ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimAnswer:
    run: Any  # the run's row
    code_url: str
    grant: InferenceGrant | None
    repeated: bool  # the validator's live run answered again (its earlier answer was lost)


async def claim_work(
    core: Core, *, validator: str, report: HostReport | None, now: datetime, base_url: str
) -> ClaimAnswer | None:
    """FIFO claim of the oldest open item this validator has not run; None when there is none.

    A validator holds up to its `max_concurrent_runs` (default 1) live runs. With the default, a
    validator that already holds its live run gets that run again, lease renewed (its earlier answer
    was lost; or 409 AT_CAPACITY with `eval_claim_returns_held_run` off). With a limit k > 1 a claim
    returns a new run while it holds fewer than k and answers 409 AT_CAPACITY at k: with several runs
    in flight a repeat cannot be told from a request for more work, so a held run is never handed out
    twice; a run whose answer was lost is never heartbeated, lapses and frees its slot. While an
    operator has paused claims there is no new work (the claim statement checks the switch). The
    inference token is minted after the claim commits: minting calls the miner's provider, and no lock
    may wait on the network.
    """
    # Claimed again when a concurrent claim of the same validator took the same slot first (it is then
    # seen), or when PostgreSQL chose this claim as a deadlock victim (seen under 24 claimers of 6 items
    # in tests/core/test_leases.py): either way nothing was written.
    found = await rerun(
        lambda: _claim(core, validator=validator, report=report, now=now),
        also=lambda exc: isinstance(exc, UniqueViolation),
    )
    if found is None:
        return None
    run, miner, blob_key, has_credential, repeated = found
    core.caches.run_scopes.put(run.id, (run.suite_id, run.race_id is not None))
    rules = policy(core)
    code_url = await core.blobs.presign_get(
        blob_key, expires_in=CODE_URL_TTL_SECONDS, base_url=base_url, filename="agent.py"
    )
    grant = None
    if has_credential:
        grant = await credential_service.mint_for_run(
            core.sessionmaker,
            core.providers,
            hotkey=miner,
            settings=core.settings,
            ttl_seconds=rules.lease_seconds * 10,
        )
    return ClaimAnswer(run=run, code_url=code_url, grant=grant, repeated=repeated)


async def _claim(
    core: Core, *, validator: str, report: HostReport | None, now: datetime
) -> tuple[Any, str, str, bool, bool] | None:
    """The claim: (run, miner, blob key, has credential, repeated), or None.

    The common case first: a validator holding no run gets the next item in one statement (the item's
    count, the run and the version's RUNNING state written together), which on PostgreSQL commits by
    itself — no BEGIN and COMMIT round trips. Only when that finds nothing (the validator holds runs,
    or there is no work) does the full path below run, in one transaction.
    """
    rules = policy(core)
    params = {
        "validator": validator,
        "run_id": uuid.uuid4(),
        "now": now,
        "expires": now + timedelta(seconds=rules.lease_seconds),
        "service_versions": _versions(report),
    }
    async with core.db.transaction(autocommit=True) as tx:
        await _seen(core, tx, validator=validator, report=report, now=now, claimed=True)
        claimed = await leases.claim(tx, st.CLAIM, params=params)
    if claimed is None:
        async with core.db.transaction() as tx:
            return await _claim_held(tx, validator=validator, params=params, rules=rules, now=now)
    return _answer(claimed)


def _answer(claimed: leases.Claimed | None) -> tuple[Any, str, str, bool, bool] | None:
    """A new claim as `_claim` answers it (not a repeat)."""
    if claimed is None:
        return None
    work = claimed.work
    return claimed.lease, work["miner_hotkey"], work["blob_key"], bool(work["has_credential"]), False


async def _claim_held(
    tx: Tx, *, validator: str, params: dict[str, Any], rules: Policy, now: datetime
) -> tuple[Any, str, str, bool, bool] | None:
    """A claim by a validator that holds runs, or when there was no work: a new claim, the held run
    again (its earlier answer was lost), 409 AT_CAPACITY, or None."""
    # Its limit (locking its setting row when it has one, so its own claims take slots one at a
    # time), then its runs as of that lock.
    limit = int(await tx.scalar(st.MAX_RUNS, {"validator": validator}) or 1)
    held = await tx.all(st.HELD_RUN, {"validator": validator})
    live = [h for h in held if h.lease_expires_at > now]
    lapsed = [h for h in held if h.lease_expires_at <= now]
    if lapsed:  # its own lapsed runs: free them now, not at the next reaper tick
        await _return_runs(tx, lapsed, now=now)
    if live and limit == 1:
        if not rules.claim_returns_held_run:
            raise AtCapacity()
        first = live[0]
        run = await leases.renew(
            tx, RUNS, lease_id=first.id, owner=validator, now=now, seconds=rules.lease_seconds
        )
        return run, first.miner_hotkey, first.blob_key, bool(first.has_credential), True
    if len(live) >= limit:
        raise AtCapacity(f"Validator holds {len(live)} of its {limit} concurrent runs")
    freed = await _reap(tx, now=now) or lapsed
    if limit > 1:
        taken = {h.slot for h in live}
        slot = next(n for n in range(limit) if n not in taken)
        return _answer(await leases.claim(tx, st.CLAIM_EXTRA_SLOT, params={**params, "slot": slot}))
    if freed:  # a slot came back
        return _answer(await leases.claim(tx, st.CLAIM, params=params))
    return None


def _versions(report: HostReport | None) -> dict[str, Any] | None:
    return dict(report.service_versions) if report and report.service_versions else None


async def _seen(
    core: Core, tx: Tx, *, validator: str, report: HostReport | None, now: datetime, claimed: bool
) -> None:
    """Record that a validator was seen: a new report at once, the same one at most every few seconds."""
    content = (
        None
        if report is None
        else (
            report.cpu_pct,
            report.ram_pct,
            report.disk_pct,
            report.docker_container_count,
            repr(report.service_versions),
        )
    )
    # Claims and heartbeats are debounced apart: a validator that reports one metric when it claims and
    # another when it heartbeats would otherwise look "changed" on every call and write every time.
    if not core.seen.due(f"{validator}\x00{'claim' if claimed else 'beat'}", now, content):
        return
    metrics = report is not None and any(
        v is not None
        for v in (report.cpu_pct, report.ram_pct, report.disk_pct, report.docker_container_count)
    )
    await tx.run(
        st.SEEN[tx.dialect],
        {
            "hotkey": validator,
            "now": now,
            "last_seen_at": now,
            "last_claim_at": now if claimed else None,
            "service_versions": _versions(report),
            "cpu_pct": report.cpu_pct if report else None,
            "ram_pct": report.ram_pct if report else None,
            "disk_pct": report.disk_pct if report else None,
            "docker_container_count": report.docker_container_count if report else None,
            "metrics_reported_at": now if metrics else None,
        },
    )


# --- the lease --------------------------------------------------------------------------------------


async def heartbeat(
    core: Core, *, run_id: uuid.UUID, validator: str, report: HostReport | None, now: datetime
) -> datetime:
    """Extend the run's lease and mark it RUNNING; returns the new expiry."""
    values: dict[str, Any] = {"status": "RUNNING"}
    versions = _versions(report)
    if versions:
        values["service_versions"] = versions
    # The renewal is one guarded statement and the last-seen write may land without it.
    async with core.db.transaction(autocommit=True) as tx:
        run = await leases.renew(
            tx,
            RUNS,
            lease_id=run_id,
            owner=validator,
            now=now,
            seconds=policy(core).lease_seconds,
            values=values,
        )
        await _seen(core, tx, validator=validator, report=report, now=now, claimed=False)
    expires: datetime = run.lease_expires_at
    return expires


async def reap(core: Core, now: datetime) -> int:
    """STALE every run whose lease lapsed and give its slot back to the queue (the periodic job)."""
    async with core.db.transaction() as tx:
        return await _reap(tx, now=now)


async def _reap(tx: Tx, *, now: datetime) -> int:
    stale = await leases.reap(tx, RUNS, now=now)
    await _return_runs(tx, stale, now=now, reaped=True)
    return len(stale)


async def _return_runs(tx: Tx, runs: Sequence[Any], *, now: datetime, reaped: bool = False) -> None:
    """Runs that ended without a result: each frees its item's slot (QUEUED again when nobody is on it)."""
    for run in runs:
        if not reaped:
            await leases.end(tx, RUNS, where=RUNS.c.id == run.id, status=RUNS.expired, now=now)
        item = await tx.one(st.ITEM_RELEASE, {"item_id": run.work_item_id})
        if item is not None and item.status == "OPEN":
            await tx.run(st.VERSION_IDLE, {"version_id": item.agent_version_id, "active": item.active_count})


# --- progress and uploads --------------------------------------------------------------------------------


async def suite_problem_ids(core: Core, tx: Tx, suite_id: int) -> frozenset[uuid.UUID]:
    """A suite's problem ids (they never change once imported; cached per database)."""
    cache = core.caches.problem_ids
    found = cache.get(suite_id)
    if found is None:
        found = cache.put(
            suite_id,
            frozenset(r.problem_id for r in await tx.all(st.SUITE_PROBLEM_IDS, {"suite_id": suite_id})),
        )
    return found


async def run_problem_ids(core: Core, tx: Tx, run: Any) -> frozenset[uuid.UUID]:
    """The problem ids a run may report: its suite's, or for a RACE run the suite's hidden race bank."""
    core.caches.run_scopes.put(run.id, (run.suite_id, run.race_id is not None))
    return await _scope_problem_ids(core, tx, run.suite_id, race=run.race_id is not None)


async def _scope_problem_ids(core: Core, tx: Tx, suite_id: int, *, race: bool) -> frozenset[uuid.UUID]:
    if race:
        return await races_settling.bank_ids(core, tx, suite_id)
    return await suite_problem_ids(core, tx, suite_id)


async def record_progress(
    core: Core, *, run_id: uuid.UUID, validator: str, updates: Sequence[ProblemUpdate], now: datetime
) -> None:
    """Merge per-problem results: a field a later update omits (or sends as null) is never wiped.

    On PostgreSQL, for a run this process has seen (it claimed it, or an earlier progress read it), one
    statement that commits by itself (PROGRESS_MERGE_PG: the guarded merge and the count). Otherwise, and for
    anything the fast path cannot decide alone (an unknown problem id, a lease that missed), one
    transaction that locks the run first, so errors come in the same order either way.
    """
    merged = _last_per_problem(updates)
    scope = core.caches.run_scopes.get(run_id)
    if scope is not None and core.db.dialect == "postgresql":
        async with core.db.transaction(autocommit=True) as tx:
            known = await _scope_problem_ids(core, tx, scope[0], race=scope[1])
            document = _progress_document(merged) if all(u.problem_id in known for u in merged) else None
            if document is not None:
                held = await tx.one(
                    st.PROGRESS_MERGE_PG,
                    {
                        "lease_id": run_id,
                        "owner": validator,
                        "now": now,
                        "updates": document,
                        "total": len(known),
                    },
                )
                if held is not None:
                    return
    async with core.db.transaction() as tx:
        run = await leases.hold(tx, RUNS, lease_id=run_id, owner=validator, now=now)
        known = await run_problem_ids(core, tx, run)
        unknown = [str(u.problem_id) for u in updates if u.problem_id not in known]
        if unknown:
            raise BadRequest(
                f"Unknown problem id(s) for this run's suite: {', '.join(unknown[:5])}",
                code="INVALID_PROBLEM_ID",
            )
        await tx.many(
            st.RESULT_UPSERT[tx.dialect],
            [
                {
                    **{name: update.fields.get(name) for name in st.MERGED_FIELDS},
                    "run_id": run_id,
                    "problem_id": update.problem_id,
                    "status": update.status,
                    "now": now,
                }
                for update in merged
            ],
        )
        await tx.run(st.RUN_PROGRESS, {"run_id": run_id, "total": len(known)})


def _progress_document(updates: Sequence[ProblemUpdate]) -> str | None:
    """The updates as PROGRESS_MERGE_PG's JSON array; None when a value has no JSON form (NaN, ∞)."""
    document = []
    for update in updates:
        row: dict[str, Any] = {"problem_id": str(update.problem_id), "status": update.status}
        row.update({n: v for n in st.MERGED_FIELDS if (v := update.fields.get(n)) is not None})
        document.append(row)
    try:
        return json.dumps(document, allow_nan=False)
    except ValueError:
        return None


def _last_per_problem(updates: Sequence[ProblemUpdate]) -> list[ProblemUpdate]:
    """One write per problem: a later entry for the same problem in one request merges over an earlier."""
    merged: dict[uuid.UUID, ProblemUpdate] = {}
    for update in updates:
        earlier = merged.get(update.problem_id)
        if earlier is not None:
            fields = {**{k: v for k, v in earlier.fields.items() if v is not None}}
            fields.update({k: v for k, v in update.fields.items() if v is not None})
            update = ProblemUpdate(update.problem_id, update.status, fields)
        merged[update.problem_id] = update
    return list(merged.values())


@dataclass(frozen=True)
class Upload:
    key: str
    presigned: PresignedUpload


async def presign_upload(
    core: Core,
    *,
    run_id: uuid.UUID,
    problem_id: uuid.UUID,
    validator: str,
    content_length: int,
    content_type: str,
    base_url: str,
    now: datetime,
) -> Upload:
    """A presigned PUT for one problem's logs of this run, capped at the declared length."""
    rules = policy(core)
    async with core.db.transaction() as tx:
        run = await tx.one(st.RUN, {"run_id": run_id})
        if run is None:
            raise NotFound("Evaluation run not found", code="EVAL_RUN_NOT_FOUND")
        if problem_id not in await run_problem_ids(core, tx, run):
            raise NotFound("Problem not found in this run's suite", code="PROBLEM_NOT_FOUND")
        await leases.hold(tx, RUNS, lease_id=run_id, owner=validator, now=now)
    if content_length <= 0:
        raise ValidationFailed("content_length must be positive")
    if content_length > rules.upload_max_bytes:
        raise BadRequest(f"Uploads are limited to {rules.upload_max_bytes} bytes", code="FILE_TOO_LARGE")
    if (
        not content_type
        or len(content_type) > 100
        or "/" not in content_type
        or any(c in content_type for c in "\r\n")
    ):
        raise ValidationFailed("content_type must be a MIME type such as application/gzip")
    key = f"{run_key_prefix(run_id)}{problem_id}/{uuid.uuid4().hex}"
    presigned = await core.blobs.presign_put(
        key,
        expires_in=UPLOAD_URL_TTL_SECONDS,
        base_url=base_url,
        content_type=content_type,
        content_length=content_length,
    )
    return Upload(key=key, presigned=presigned)


async def run_problems(core: Core, *, run_id: uuid.UUID, validator: str) -> tuple[int, Sequence[Problem]]:
    """The suite and problems a run evaluates (ground truth included); only its validator may read them."""
    async with core.sessionmaker() as session:
        run = await evaluation_service.run_for_validator(session, run_id=run_id, validator=validator)
        return run.suite_id, await evaluation_service.run_problems(session, run=run)


def run_key_prefix(run_id: uuid.UUID) -> str:
    """Blob keys a run's validator may record (proctor issues them; anything else is refused)."""
    return f"runs/{run_id}/"


# --- completion and settling ---


@dataclass(frozen=True)
class Completion:
    run: Any
    item: Any
    became_eligible: bool
    final_score: float | None


RECORDED_OUTCOME = ("validator_score",)  # with the status: what makes a repeated completion "the same"


async def complete_run(
    core: Core,
    *,
    run_id: uuid.UUID,
    validator: str,
    status: str,
    score: float | None,
    failure_reason: str | None,
    details: Mapping[str, Any],
    now: datetime,
) -> Completion:
    """Finish a run and settle its work item. An identical repeat answers as before; a completion that
    differs from the recorded one (other status or score) is refused and changes nothing."""
    validate_completion(status, score, failure_reason)
    rules = policy(core)
    values: dict[str, Any] = {
        "validator_score": score if status == "SUCCESS" else None,
        "failure_reason": failure_reason if status != "SUCCESS" else None,
    }
    values.update(
        {
            k: details[k]
            for k in ("score_components", "results_s3_key", "sandbox_metadata")
            if details.get(k) is not None
        }
    )
    run, item, counted = await rerun(lambda: _finish(core, run_id, validator, status, values, now))
    eligible = False
    if counted:
        item, eligible = await settle(core, item, policy=rules, now=now, run=run)
    if eligible or item.phase == "RACE":  # a race item may have completed its race (the top)
        core.caches.scores_changed()
    return Completion(run=run, item=item, became_eligible=eligible, final_score=item.final_score)


async def _finish(
    core: Core,
    run_id: uuid.UUID,
    validator: str,
    status: str,
    values: dict[str, Any],
    now: datetime,
) -> tuple[Any, Any, bool]:
    """The run's finish, counted on its item: (the run, its item, whether this call counted it).

    On PostgreSQL this is one statement that commits by itself (the finish, the item's counts, the
    version's QUEUED/RUNNING state, and the item's scores once its counts decide it), so the item's row
    lock lasts one statement, not a transaction of round trips. An item it leaves decided is closed
    by `settle` next, as a unit of its own.
    """
    async with core.db.transaction(autocommit=True) as tx:
        finished = await leases.finish(
            tx,
            RUNS,
            lease_id=run_id,
            owner=validator,
            now=now,
            status=status,
            values=values,
            compare=RECORDED_OUTCOME,
            then=st.COUNT_RUN,
        )
        if finished.changed:
            assert finished.then is not None, "a run's work item outlives it (foreign key)"
            return finished.row, finished.then, True
        item = await tx.one(st.ITEM, {"item_id": finished.row.work_item_id})
        assert item is not None, "a run's work item outlives it (foreign key)"
        return finished.row, item, False


def validate_completion(status: str, score: float | None, failure_reason: str | None) -> None:
    if status == "SUCCESS":
        if score is None:
            raise BadRequest(
                "validator_score is required when terminal_status is SUCCESS", code="MISSING_SCORE"
            )
        if not valid_score(score):
            raise ValidationFailed("validator_score must be a finite number between 0 and 1")
        return
    if score is not None:
        raise ValidationFailed("validator_score must be omitted unless terminal_status is SUCCESS")
    if not (failure_reason and failure_reason.strip()):
        raise ValidationFailed(f"failure_reason is required when terminal_status is {status}")


def decided(item: Any, policy: Policy) -> bool:
    """An open item whose counts decide it: enough successes to close, or too many failures."""
    return item.status == "OPEN" and (
        item.success_count >= item.required_successes or item.failure_count >= policy.max_failures
    )


SETTLE_ATTEMPTS = 20  # each miss means another run was counted or another closer won meanwhile


async def settle(
    core: Core, item: Any, *, policy: Policy, now: datetime, run: Any = None
) -> tuple[Any, bool]:
    """Close a decided item (version ELIGIBLE, maybe the new top) or discard it; an undecided one is
    left as it is. Returns the item as it now stands and whether its version became eligible.

    `item` is the row as a completion just wrote it (with the scores its statement read, and `run`
    the run it counted), or as read. The close is guarded by the counts it was decided on: of two
    validators completing the last two runs at once, both may try, exactly one closes; the other
    reads the item again and finds it closed. A process that dies between a completion and this
    leaves a decided open item, which the reaper settles (`settle_unsettled`).
    """
    scores = _scores_seen(item, run)
    for _ in range(SETTLE_ATTEMPTS):
        if not decided(item, policy):
            return item, False
        if item.phase == "RACE":  # a qualifier's race score; the version's state never changes
            # Two completions of one race's last items lock their items, then the race row;
            # PostgreSQL may pick one as a deadlock victim and roll it back whole: it runs again.
            race_item = functools.partial(_settle_race_item, core, item.id, policy=policy, now=now)
            return await rerun(race_item), False
        closed = await _close(core, item, scores, policy=policy, now=now)
        if closed is not None:
            return closed, closed.status == "CLOSED"
        scores = None
        async with core.db.transaction(autocommit=True) as tx:
            item = await tx.one(st.ITEM, {"item_id": item.id})
    return item, False  # still contended: the reaper settles it


async def _settle_race_item(core: Core, item_id: uuid.UUID, *, policy: Policy, now: datetime) -> Any:
    async with core.db.transaction() as tx:
        locked = await tx.one(st.ITEM_LOCK, {"item_id": item_id})
        return await races_settling.settle_item(
            tx,
            locked,
            aggregation=policy.aggregation,
            max_failures=policy.max_failures,
            margin=policy.top_margin,
            now=now,
        )


def _scores_seen(item: Any, run: Any) -> list[float] | None:
    """The included scores a completion's statement read (PostgreSQL), with its own run's, when they
    account for every success the item counts; None when they cannot be trusted (the statement waited
    for another completion's row lock, or a run was excluded) and must be read again."""
    seen = getattr(item, "scores", None)
    if seen is None or run is None:
        return None
    scores = [float(score) for score in seen if score is not None]
    if run.status == "SUCCESS" and run.is_included and run.validator_score is not None:
        scores.append(float(run.validator_score))
    return scores if len(scores) == item.success_count else None


async def _close(
    core: Core, item: Any, scores: list[float] | None, *, policy: Policy, now: datetime
) -> Any | None:
    """Close or discard `item` as read; None when it changed since (the caller reads it again)."""
    params: dict[str, Any] = {
        "item_id": item.id,
        "now": now,
        "successes": item.success_count,
        "failures": item.failure_count,
        "version_id": item.agent_version_id,
    }
    pg = core.db.dialect == "postgresql"
    if item.success_count >= item.required_successes:
        async with core.db.transaction(autocommit=True) as tx:
            if scores is None:
                scores = [float(r.validator_score) for r in await tx.all(st.INCLUDED_SCORES, params)]
            score = aggregate(scores, policy.aggregation)
            top = not policy.races_decide_top and dethrones(
                Contender(item.agent_version_id, score),
                _incumbent(await tx.one(st.INCUMBENT, {"suite_id": item.suite_id})),
                policy.top_margin,
            )
            params.update(
                status="CLOSED",
                score=score,
                release_at=now + timedelta(seconds=policy.release_delay_seconds),
            )
            if pg and not top:  # the common close: one statement, on the connection that just read
                return await tx.one(st.CLOSE_ELIGIBLE, params)
        version = st.VERSION_ELIGIBLE
    else:
        top = False
        params.update(
            status="DISCARDED",
            score=None,
            reason=f"{item.failure_count} validators could not evaluate it",
        )
        if pg:
            async with core.db.transaction(autocommit=True) as tx:
                return await tx.one(st.CLOSE_DISCARDED, params)
        version = st.VERSION_DISCARDED
    async with core.db.transaction() as tx:  # SQLite, or a new top: the close and the top together
        closed = await tx.one(st.ITEM_DECIDE, params)
        if closed is None:
            return None
        await tx.run(version, params)
        if top:  # it looked like a new top without the lock; consider_top decides under it
            await consider_top(
                tx,
                suite_id=item.suite_id,
                version_id=item.agent_version_id,
                score=params["score"],
                margin=policy.top_margin,
                now=now,
            )
        return closed


async def settle_unsettled(core: Core, now: datetime) -> int:
    """Settle open items whose counts already decide them (a completion's process died between
    counting its run and closing the item). Returns how many were closed or discarded."""
    rules = policy(core)
    async with core.db.transaction(autocommit=True) as tx:
        items = await tx.all(st.UNSETTLED, {"max_failures": rules.max_failures})
    settled = 0
    for item in items:
        after, _ = await settle(core, item, policy=rules, now=now)
        settled += after.status != "OPEN"
    if settled:
        core.caches.scores_changed()
    return settled


async def consider_top(
    tx: Tx, *, suite_id: int, version_id: uuid.UUID, score: float, margin: float, now: datetime
) -> bool:
    """A version just became eligible: does it take the suite's top spot? True when it did.

    Top decisions are serialised per suite by a row lock, taken only when the candidate beats the
    incumbent read without it: concurrent decisions only ever raise the bar, so an unlocked "no"
    stays a "no", and most completions (which do not dethrone anybody) never wait on each other.
    """
    contender = Contender(version_id, score)
    if not dethrones(contender, _incumbent(await tx.one(st.INCUMBENT, {"suite_id": suite_id})), margin):
        return False
    await tx.one(st.LOCK_SUITE, {"suite_id": suite_id})
    current = await tx.one(st.INCUMBENT, {"suite_id": suite_id})  # again, now that nobody else decides
    if not dethrones(contender, _incumbent(current), margin):
        return False
    if current is not None:
        await tx.run(st.END_TOP, {"top_id": current.id, "now": now})
    await tx.run(st.NEW_TOP, {"suite_id": suite_id, "version_id": version_id, "score": score, "now": now})
    return True


def _incumbent(current: Any) -> Contender | None:
    if current is None or current.version_state != "ELIGIBLE" or current.banned:
        return None
    return Contender(current.agent_version_id, current.score)
