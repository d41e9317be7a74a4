"""The Pool as flows: register, lease, submit, legacy batches, reaping and window close.

A lease hands a miner a *batch*: candidates to evaluate (each wanted by `pool_eval_required` distinct
miners; evolved ones first, then seeds, so an empty pool never deadlocks), parents to evolve from and
an evolve budget. Batches are work rows of the one lease engine and assignments its leases: a claim
takes an open batch (one the miner never held), or the flow forms a new one and claims that. A miner
holds one live assignment at a time and, when windows are enforced, gets one lease per window; both
rules are checked under a lock on the miner's row, so two concurrent requests of one miner serialise.
A lapsed assignment is reaped and its batch reopened for another miner.

Submitting stores the evaluations (only for the batch's candidates), accepts at most `evolve_budget`
evolutions as new content-addressed candidates (a known DSL counts as a repeat), and finishes the
lease. Windows close after they end: k-of-n consensus settles candidates, points are written once
and added to reputation (`consensus.close_window`).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from proctor.config import Env
from proctor.core import leases
from proctor.core.context import Core
from proctor.core.pool import consensus
from proctor.core.pool import statements as st
from proctor.core.pool.errors import (
    AssignmentNotFound,
    InvalidSubmission,
    MinerBusy,
    NothingAvailable,
    WindowLeaseUsed,
)
from proctor.core.pool.windows import Window, window_at
from proctor.errors import Forbidden
from proctor.storage.sql import Tx

ASSIGNMENTS = st.ASSIGNMENTS


@dataclass(frozen=True)
class Policy:
    window_blocks: int
    block_seconds: float
    enforce_window: bool
    simulate_windows: bool
    lease_seconds: int
    min_iterations: int
    evolve_budget: int
    max_batch: int
    eval_required: int
    task_type: str
    input_dim: int
    max_dsl_bytes: int
    rules: consensus.Rules


def policy(core: Core) -> Policy:
    """The Pool policy of this process's settings (built once)."""
    found = core.caches.extra.get("pool.policy")
    if found is None:
        s = core.settings
        found = core.caches.extra["pool.policy"] = Policy(
            window_blocks=s.pool_window_blocks,
            block_seconds=s.pool_block_seconds,
            enforce_window=s.pool_enforce_window,
            simulate_windows=s.env != Env.PRODUCTION,
            lease_seconds=s.pool_lease_seconds,
            min_iterations=s.pool_lease_min_iterations,
            evolve_budget=s.pool_evolve_budget,
            max_batch=s.pool_max_batch_size,
            eval_required=s.pool_eval_required,
            task_type=s.pool_default_task_type,
            input_dim=s.pool_default_input_dim,
            max_dsl_bytes=s.pool_max_dsl_bytes,
            rules=consensus.Rules(
                k=s.pool_consensus_threshold,
                tolerance=s.pool_consensus_tolerance,
                abs_tolerance=s.pool_consensus_abs_tolerance,
                evaluator_weight=s.pool_evaluator_weight,
                evolver_weight=s.pool_evolver_weight,
                repetition_penalty=s.pool_repetition_penalty,
                min_activity=s.pool_min_reward_activity,
            ),
        )
    return found  # type: ignore[no-any-return]


def current_window(core: Core, now: datetime) -> Window:
    """The window `now` is in (the chain's block when the registry knows it, else wall time)."""
    rules = policy(core)
    head = core.registry.chain_head
    # The metagraph is synced every few minutes: its block, advanced by the time since the sync.
    block = None if head is None else head[0] + max(0, int((now.timestamp() - head[1]) / rules.block_seconds))
    return window_at(
        now, window_blocks=rules.window_blocks, block_seconds=rules.block_seconds, chain_block=block
    )


# --- miners -------------------------------------------------------------------------------------------


def _not_banned(core: Core, miner: str) -> None:
    """Pool does not require metagraph registration (throwaway keys mine), but a ban holds."""
    identity = core.registry.lookup(miner)
    if identity.banned:
        raise Forbidden(f"Hotkey is banned{': ' + identity.ban_reason if identity.ban_reason else ''}")


async def register(core: Core, *, miner: str, now: datetime) -> Any:
    """Register a miner or refresh its record; returns the row."""
    _not_banned(core, miner)
    async with core.db.transaction() as tx:
        return await _ensure_miner(tx, miner=miner, now=now)


async def _ensure_miner(tx: Tx, *, miner: str, now: datetime) -> Any:
    return await tx.one(st.REGISTER[_dialect(tx)], {"miner": miner, "now": now})


def _dialect(tx: Tx) -> str:
    return "postgresql" if tx.dialect == "postgresql" else "sqlite"


# --- leasing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    lease: Any  # the assignment row
    window: int
    evaluate: list[Mapping[str, Any]]
    seeds: list[Mapping[str, Any]]
    evolve_budget: int
    task_type: str


async def lease(
    core: Core,
    *,
    miner: str,
    eval_batch_size: int | None,
    seed_batch_size: int | None,
    sim_window_number: int | None,
    now: datetime,
) -> Assignment:
    """A lease batch for `miner` in this window (or the simulated one, outside production)."""
    rules = policy(core)
    _not_banned(core, miner)
    if sim_window_number is not None and not rules.simulate_windows:
        raise InvalidSubmission("sim_window_number is disabled in production")
    window = sim_window_number if sim_window_number is not None else current_window(core, now).number
    sizes = (_size(eval_batch_size, rules), _size(seed_batch_size, rules))
    async with core.db.transaction() as tx:
        await _claim_slot(tx, miner=miner, window=window if rules.enforce_window else None, now=now)
        taken = await _take(
            tx, rules, miner=miner, kind="lease", window=window, enforce=rules.enforce_window, now=now
        )
        known: dict[int, Mapping[str, Any]] = {}
        if taken is None:
            await _form(
                tx,
                rules,
                miner=miner,
                kind="lease",
                sizes=sizes,
                budget=rules.evolve_budget,
                now=now,
                known=known,
            )
            taken = await _take(
                tx, rules, miner=miner, kind="lease", window=window, enforce=rules.enforce_window, now=now
            )
        if taken is None:
            raise NothingAvailable()
        return await _answer(tx, taken, window=window, known=known)


def _size(value: int | None, rules: Policy) -> int:
    return 8 if value is None else max(0, min(value, rules.max_batch))


async def _claim_slot(tx: Tx, *, miner: str, window: int | None, now: datetime) -> None:
    """Lock the miner's row; refuse a second live assignment, or a second lease in `window`."""
    await _ensure_miner(tx, miner=miner, now=now)  # locks the miner's row (PostgreSQL)
    held = await tx.all(st.LIVE_OF_MINER, {"miner": miner})
    if any(row.lease_expires_at > now for row in held):
        raise MinerBusy()
    if window is not None and await tx.one(st.LEASE_IN_WINDOW, {"miner": miner, "window": window}):
        raise WindowLeaseUsed()
    if held:  # its own lapsed assignments go back now, not at the next reaper tick
        await _return(
            tx, await leases.end(tx, ASSIGNMENTS, where=_lapsed_of(miner, now), status="EXPIRED", now=now)
        )


def _lapsed_of(miner: str, now: datetime) -> Any:
    c = st.AS.c
    return (c.miner_hotkey == miner) & (c.lease_expires_at <= now)


async def take(core: Core, *, miner: str, kind: str, now: datetime) -> Any | None:
    """Claim an existing open batch of `kind` (no forming, no window rule): its lease id, or None."""
    rules = policy(core)
    async with core.db.transaction() as tx:
        await _ensure_miner(tx, miner=miner, now=now)
        taken = await _take(
            tx, rules, miner=miner, kind=kind, window=current_window(core, now).number, enforce=False, now=now
        )
        return None if taken is None else taken.lease.id


async def _take(
    tx: Tx, rules: Policy, *, miner: str, kind: str, window: int, enforce: bool, now: datetime
) -> leases.Claimed | None:
    params = {
        "miner": miner,
        "kind": kind,
        "lease_id": uuid.uuid4(),
        "window_number": window,
        "lease_window": window if enforce else None,
        "now": now,
        "expires": now + timedelta(seconds=rules.lease_seconds),
    }
    return await leases.claim(tx, st.CLAIM, params=params)


async def _form(
    tx: Tx,
    rules: Policy,
    *,
    miner: str,
    kind: str,
    sizes: tuple[int, int],
    budget: int,
    now: datetime,
    known: dict[int, Mapping[str, Any]] | None = None,
) -> bool:
    """Form a new open batch for `miner` (its algorithms noted in `known`); False when it would be empty."""
    evaluate = (
        await tx.all(st.TO_EVALUATE, {"miner": miner, "required": rules.eval_required, "limit": sizes[0]})
        if sizes[0]
        else []
    )
    seeds = await tx.all(st.TO_EVOLVE, {"limit": sizes[1]}) if sizes[1] else []
    if not evaluate and not (budget and (seeds or kind == "lease")):
        return False
    evaluate = sorted(evaluate, key=lambda r: r.id)  # RETURNING has no order
    if known is not None:
        known.update({row.id: _algorithm_record(row) for row in [*evaluate, *seeds]})
    await tx.one(
        st.NEW_BATCH,
        {
            "kind": kind,
            "task_type": (evaluate or seeds)[0].task_type if (evaluate or seeds) else rules.task_type,
            "evaluate_ids": [r.id for r in evaluate],
            "seed_ids": [r.id for r in seeds],
            "evolve_budget": budget,
            "now": now,
        },
    )
    return True


async def _answer(
    tx: Tx, taken: leases.Claimed, *, window: int, known: Mapping[int, Mapping[str, Any]] | None = None
) -> Assignment:
    """The lease with its algorithms (those the batch was just formed from are not read again)."""
    work, known = taken.work, known or {}
    evaluate = [known.get(i) or await _algorithm(tx, i) for i in work["evaluate_ids"]]
    seeds = [known.get(i) or await _algorithm(tx, i) for i in work["seed_ids"]]
    return Assignment(
        lease=taken.lease,
        window=window,
        evaluate=[a for a in evaluate if a is not None],
        seeds=[a for a in seeds if a is not None],
        evolve_budget=int(work["evolve_budget"]),
        task_type=str(work["task_type"]),
    )


async def _algorithm(tx: Tx, algorithm_id: int) -> Mapping[str, Any] | None:
    row = await tx.one(st.ALGO, {"algorithm_id": algorithm_id})
    return None if row is None else _algorithm_record(row)


def _algorithm_record(row: Any) -> Mapping[str, Any]:
    return {
        "id": row.id,
        "algorithm_dsl": row.algorithm_dsl,
        "input_dim": row.input_dim,
        "task_type": row.task_type,
    }


async def request_task(core: Core, *, miner: str, task_type: str | None, now: datetime) -> Assignment:
    """A legacy batch (`evolve`: parents and a budget of one; `evaluate`: candidates); one live at a time."""
    rules = policy(core)
    _not_banned(core, miner)
    kind = task_type if task_type in ("evolve", "evaluate") else "evolve"
    window = current_window(core, now).number
    sizes = (0, 8) if kind == "evolve" else (8, 0)
    async with core.db.transaction() as tx:
        await _claim_slot(tx, miner=miner, window=None, now=now)
        taken = await _take(tx, rules, miner=miner, kind=kind, window=window, enforce=False, now=now)
        if taken is None and await _form(
            tx, rules, miner=miner, kind=kind, sizes=sizes, budget=1 if kind == "evolve" else 0, now=now
        ):
            taken = await _take(tx, rules, miner=miner, kind=kind, window=window, enforce=False, now=now)
        if taken is None:
            raise NothingAvailable(f"No {kind} tasks available")
        return await _answer(tx, taken, window=window)


async def has_pending_evaluations(core: Core, *, miner: str) -> bool:
    """Whether a candidate still wants an evaluation this miner could give."""
    async with core.db.transaction() as tx:
        found = await tx.one(st.ANY_TO_EVALUATE, {"miner": miner, "required": policy(core).eval_required})
        return found is not None


# --- submitting ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    algorithm_id: int
    score: float


@dataclass(frozen=True)
class Evolution:
    algorithm_dsl: str
    parent_ids: tuple[int, ...]


@dataclass(frozen=True)
class Submitted:
    lease_id: Any
    evaluations_accepted: int
    evolutions_accepted: int
    new_algorithm_ids: list[int]
    repeats: int
    iterations: int


async def submit(
    core: Core,
    *,
    miner: str,
    lease_id: uuid.UUID,
    kinds: Sequence[str],
    evaluations: Sequence[Evaluation],
    evolutions: Sequence[Evolution],
    iterations: int | None,
    now: datetime,
) -> Submitted:
    """Finish the miner's live assignment `lease_id` (of one of `kinds`) with its results."""
    rules = policy(core)
    if iterations is not None and iterations < rules.min_iterations:
        raise InvalidSubmission(f"iterations must be at least {rules.min_iterations}")
    async with core.db.transaction() as tx:
        try:
            row = await leases.hold(tx, ASSIGNMENTS, lease_id=lease_id, owner=miner, now=now)
        except leases.LEASE_ERRORS:
            raise AssignmentNotFound() from None
        if row.kind not in kinds:
            raise AssignmentNotFound()
        batch = await tx.one(st.BATCH, {"batch_id": row.batch_id})
        assert batch is not None, "an assignment's batch is never deleted"
        wanted = [int(i) for i in batch.evaluate_ids]
        accepted = await _store_evaluations(tx, row, wanted, evaluations, miner=miner, now=now)
        budget = int(batch.evolve_budget)
        new_ids, repeats = await _store_evolutions(
            tx, rules, row, list(evolutions)[:budget], task_type=batch.task_type, miner=miner, now=now
        )
        evolved = len(new_ids) + repeats
        await leases.finish(
            tx,
            ASSIGNMENTS,
            lease_id=lease_id,
            owner=miner,
            now=now,
            status="COMPLETED",
            values={
                "iterations": iterations or 0,
                "evaluations_n": accepted,
                "evolutions_n": evolved,
                "repeats_n": repeats,
            },
        )
        await tx.run(st.BATCH_DONE, {"batch_id": row.batch_id})
        await tx.run(
            st.MINER_DONE, {"miner": miner, "evaluations": accepted, "evolutions": evolved, "now": now}
        )
    return Submitted(lease_id, accepted, evolved, new_ids, repeats, iterations or 0)


async def _store_evaluations(
    tx: Tx, row: Any, wanted: list[int], evaluations: Sequence[Evaluation], *, miner: str, now: datetime
) -> int:
    seen: set[int] = set()
    for e in evaluations:
        if e.algorithm_id not in wanted:
            raise InvalidSubmission(f"algorithm {e.algorithm_id} is not in this assignment's evaluation set")
        if e.algorithm_id in seen:
            raise InvalidSubmission(f"algorithm {e.algorithm_id} is evaluated twice")
        if not math.isfinite(e.score):
            raise InvalidSubmission(f"the score of algorithm {e.algorithm_id} must be a finite number")
        seen.add(e.algorithm_id)
    accepted = 0
    for algorithm_id in sorted(wanted):  # one order everywhere: no deadlocks between submitters
        score = next((e.score for e in evaluations if e.algorithm_id == algorithm_id), None)
        stored = None
        if score is not None:
            params = {
                "algorithm_id": algorithm_id,
                "miner": miner,
                "lease_id": row.id,
                "score": float(score),
                "window_number": row.window_number,
                "now": now,
            }
            stored = await tx.one(st.NEW_EVALUATION[_dialect(tx)], params)
        if stored is not None:
            accepted += 1
            await tx.run(st.EVALUATED, {"algorithm_id": algorithm_id})
        else:  # not evaluated (or already by this miner): the slot goes back
            await tx.run(st.PENDING_DOWN, {"algorithm_id": algorithm_id})
    return accepted


async def _store_evolutions(
    tx: Tx,
    rules: Policy,
    row: Any,
    evolutions: Sequence[Evolution],
    *,
    task_type: str,
    miner: str,
    now: datetime,
) -> tuple[list[int], int]:
    new_ids: list[int] = []
    repeats = 0
    for evo in evolutions:
        dsl = evo.algorithm_dsl.strip()
        if not dsl:
            raise InvalidSubmission("an evolution's algorithm_dsl is empty")
        if len(dsl.encode()) > rules.max_dsl_bytes:
            raise InvalidSubmission(
                f"an evolution's algorithm_dsl is larger than {rules.max_dsl_bytes} bytes"
            )
        parents = [
            p for p in dict.fromkeys(evo.parent_ids) if await tx.one(st.KNOWN_IDS, {"algorithm_id": p})
        ]
        created = await tx.one(
            st.NEW_ALGORITHM[_dialect(tx)],
            {
                "dsl_hash": dsl_hash(dsl),
                "algorithm_dsl": dsl,
                "task_type": task_type,
                "input_dim": rules.input_dim,
                "parent_ids": parents,
                "submitter": miner,
                "is_seed": False,
                "created_window": row.window_number,
                "now": now,
            },
        )
        if created is None:
            repeats += 1
        else:
            new_ids.append(int(created.id))
    return new_ids, repeats


def dsl_hash(dsl: str) -> str:
    return hashlib.sha256(dsl.strip().encode()).hexdigest()


# --- seeds --------------------------------------------------------------------------------------------


async def import_seeds(core: Core, *, seeds: Sequence[Mapping[str, Any]], now: datetime) -> tuple[int, int]:
    """Add seed algorithms (`algorithm_dsl`, optional `task_type`, `input_dim`); (added, already known)."""
    rules = policy(core)
    added = known = 0
    async with core.db.transaction() as tx:
        for seed in seeds:
            dsl = str(seed.get("algorithm_dsl") or seed.get("dsl") or "").strip()
            if not dsl:
                raise InvalidSubmission("every seed needs a non-empty algorithm_dsl")
            created = await tx.one(
                st.NEW_ALGORITHM[_dialect(tx)],
                {
                    "dsl_hash": dsl_hash(dsl),
                    "algorithm_dsl": dsl,
                    "task_type": str(seed.get("task_type") or rules.task_type),
                    "input_dim": int(seed.get("input_dim") or rules.input_dim),
                    "parent_ids": [],
                    "submitter": None,
                    "is_seed": True,
                    "created_window": None,
                    "now": now,
                },
            )
            added, known = (added + 1, known) if created is not None else (added, known + 1)
    return added, known


# --- reaping ------------------------------------------------------------------------------------------


async def reap(core: Core, now: datetime) -> int:
    """Expire lapsed assignments and reopen their batches for other miners; returns how many."""
    async with core.db.transaction() as tx:
        rows = await leases.reap(tx, ASSIGNMENTS, now=now)
        await _return(tx, rows)
    return len(rows)


async def _return(tx: Tx, rows: Sequence[Any]) -> None:
    for row in sorted(rows, key=lambda r: r.batch_id):
        await tx.run(st.BATCH_REOPEN, {"batch_id": row.batch_id})


# --- closing windows ----------------------------------------------------------------------------------


async def close_windows(core: Core, now: datetime, *, limit: int = 10) -> list[int]:
    """Close every ended window that saw work (oldest first, up to `limit`) once none of its leases is
    still live; returns their numbers."""
    closed: list[int] = []
    current = current_window(core, now).number
    for _ in range(limit):
        async with core.db.transaction() as tx:
            last = await tx.scalar(st.LAST_CLOSED)
            number = await tx.scalar(st.NEXT_ACTIVE_WINDOW, {"after": -1 if last is None else last})
            if number is None or number >= current:
                break
            # A lease issued near the window's end may still submit into it: close when none is live.
            if await tx.one(st.LIVE_IN_WINDOW, {"window": number, "now": now}) is not None:
                break
            await _close(tx, policy(core), number=number, now=now)
        closed.append(number)
    return closed


async def _close(tx: Tx, rules: Policy, *, number: int, now: datetime) -> None:
    from proctor.core.pool import closing

    evaluations = await tx.all(closing.OPEN_EVALUATIONS, {"window": number})
    grouped: dict[int, list[tuple[str, float]]] = {}
    meta: dict[int, tuple[str | None, str]] = {}
    for e in evaluations:
        grouped.setdefault(e.algorithm_id, []).append((e.miner_hotkey, e.score))
        meta[e.algorithm_id] = (e.submitter_hotkey, e.task_type)
    candidates = [consensus.Candidate(i, meta[i][0], meta[i][1], grouped[i]) for i in grouped]
    sota = {r.task_type: r.best for r in await tx.all(closing.SOTA_BEFORE, {"window": number})}
    activity: dict[str, list[int]] = {}
    for r in await tx.all(closing.WINDOW_EVALUATIONS, {"window": number}):
        activity.setdefault(r.miner_hotkey, [0, 0, 0])[0] = int(r.n)
    for r in await tx.all(closing.WINDOW_EVOLUTIONS, {"window": number}):
        entry = activity.setdefault(r.miner_hotkey, [0, 0, 0])
        entry[1], entry[2] = int(r.evolutions or 0), int(r.repeats or 0)
    outcome = consensus.close_window(
        candidates,
        rules=rules.rules,
        sota_before=sota,
        required=rules.eval_required,
        activity={m: (a[0], a[1], a[2]) for m, a in activity.items()},
    )
    for algorithm_id, score in sorted(outcome.settled.items()):
        await tx.run(closing.SETTLE, {"algorithm_id": algorithm_id, "score": score, "window": number})
    total = 0.0
    rows = []
    for hotkey, t in sorted(outcome.tallies.items()):
        evaluator, evolver, penalty, in_consensus, paid = t.points(rules.rules)
        total += paid
        rows.append(
            {
                "window": number,
                "hotkey": hotkey,
                "agreements": t.agreements,
                "disagreements": t.disagreements,
                "evaluations": t.evaluations,
                "evolutions": t.evolutions,
                "repeats": t.repeats,
                "evaluator_points": evaluator,
                "evolver_points": evolver,
                "penalty_points": penalty,
                "in_consensus": in_consensus,
                "points": paid,
            }
        )
    await tx.run(
        closing.NEW_WINDOW,
        {
            "window": number,
            "now": now,
            "settled": len(outcome.settled),
            "scored": sum(1 for s in outcome.settled.values() if s is not None),
            "sota": max(sota.values()) if sota else None,
            "total": total,
        },
    )
    for values in rows:
        await tx.run(closing.NEW_POINTS, values)
        if values["points"]:
            await tx.run(closing.REPUTATION, {"miner": values["hotkey"], "points": values["points"]})
