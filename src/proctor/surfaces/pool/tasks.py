"""Pool's task routes: leases and legacy evolve/evaluate batches (reference pool-api §3.3, §7).

Each route parses, authenticates (headers, or the body copy newer clients add), makes one flow call
and renders. The flows' errors already carry Pool's exact `detail` strings.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request

from proctor.core.pool import flows
from proctor.core.pool.errors import AssignmentNotFound
from proctor.http.deps import core_of
from proctor.http.params import Identifier
from proctor.storage.base import utcnow
from proctor.surfaces.pool import wire
from proctor.surfaces.pool.auth import WalletAuth, authenticate

router = APIRouter(tags=["pool: tasks"])  # mounted at /api/v1/tasks


def _algorithms(items: Sequence[Mapping[str, Any]]) -> list[wire.AlgorithmWire]:
    return [wire.AlgorithmWire(**a) for a in items]


@router.post("/lease", response_model=wire.LeaseResponse)
async def lease(
    request: Request, hotkey: WalletAuth, body: wire.LeaseRequest | None = None
) -> wire.LeaseResponse:
    """A lease batch: algorithms to evaluate, seeds to evolve from, an evolve budget and `timeout_at`."""
    body = body or wire.LeaseRequest()
    found = await flows.lease(
        core_of(request),
        miner=hotkey,
        eval_batch_size=body.eval_batch_size,
        seed_batch_size=body.seed_batch_size,
        sim_window_number=body.sim_window_number,
        now=utcnow(),
    )
    return wire.LeaseResponse(
        lease_id=str(found.lease.id),
        window_number=found.window,
        timeout_at=found.lease.lease_expires_at,
        evolve_budget=found.evolve_budget,
        task_type=found.task_type,
        evaluate_algorithms=_algorithms(found.evaluate),
        seed_algorithms=_algorithms(found.seeds),
    )


def _lease_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise AssignmentNotFound() from None


def _submitted(found: flows.Submitted) -> wire.SubmitResponse:
    return wire.SubmitResponse(
        lease_id=str(found.lease_id),
        evaluations_accepted=found.evaluations_accepted,
        evolutions_accepted=found.evolutions_accepted,
        new_algorithm_ids=found.new_algorithm_ids,
        repeated_evolutions=found.repeats,
        iterations=found.iterations,
    )


@router.post("/{lease_id}/submit_lease", response_model=wire.SubmitResponse)
async def submit_lease(
    request: Request, lease_id: Identifier, body: wire.LeaseSubmission
) -> wire.SubmitResponse:
    """Evaluations, at most `evolve_budget` evolutions and the iteration count for a live lease."""
    signer = authenticate(request, body=body.auth_fields())
    found = await flows.submit(
        core_of(request),
        miner=signer.hotkey,
        lease_id=_lease_id(lease_id),
        kinds=("lease",),
        evaluations=[flows.Evaluation(e.algorithm_id, e.score) for e in body.evaluations],
        evolutions=[flows.Evolution(e.algorithm_dsl, tuple(e.parent_algorithm_ids)) for e in body.evolutions],
        iterations=body.iterations,
        now=utcnow(),
    )
    return _submitted(found)


@router.post("/request", response_model=wire.TaskResponse)
async def request_task(
    request: Request, hotkey: WalletAuth, body: wire.TaskRequest | None = None
) -> wire.TaskResponse:
    """A legacy `evolve` or `evaluate` batch; 404 when none is available."""
    body = body or wire.TaskRequest()
    found = await flows.request_task(core_of(request), miner=hotkey, task_type=body.task_type, now=utcnow())
    kind = found.lease.kind
    return wire.TaskResponse(
        batch_id=str(found.lease.id),
        task_type=kind,
        algorithms=_algorithms(found.seeds if kind == "evolve" else found.evaluate),
        window_number=found.window,
        timeout_at=found.lease.lease_expires_at,
    )


@router.post("/{batch_id}/submit_evolution", response_model=wire.SubmitResponse)
async def submit_evolution(
    request: Request, batch_id: Identifier, body: wire.EvolutionSubmission
) -> wire.SubmitResponse:
    """The evolved function for a live `evolve` batch."""
    signer = authenticate(request, body=body.auth_fields())
    found = await flows.submit(
        core_of(request),
        miner=signer.hotkey,
        lease_id=_lease_id(batch_id),
        kinds=("evolve",),
        evaluations=[],
        evolutions=[flows.Evolution(body.evolved_function, tuple(p.id for p in body.parent_functions))],
        iterations=None,
        now=utcnow(),
    )
    return _submitted(found)


@router.post("/{batch_id}/submit_evaluation", response_model=wire.SubmitResponse)
async def submit_evaluation(
    request: Request, batch_id: Identifier, body: wire.EvaluationSubmission
) -> wire.SubmitResponse:
    """Scores for a live `evaluate` batch."""
    signer = authenticate(request, body=body.auth_fields())
    found = await flows.submit(
        core_of(request),
        miner=signer.hotkey,
        lease_id=_lease_id(batch_id),
        kinds=("evaluate",),
        evaluations=[flows.Evaluation(e.algorithm_id, e.score) for e in body.evaluations],
        evolutions=[],
        iterations=None,
        now=utcnow(),
    )
    return _submitted(found)


@router.get("/pending_evaluations", response_model=wire.PendingEvaluations)
async def pending_evaluations(request: Request, hotkey: WalletAuth) -> wire.PendingEvaluations:
    """Whether a candidate still wants an evaluation from the signer."""
    pending = await flows.has_pending_evaluations(core_of(request), miner=hotkey)
    return wire.PendingEvaluations(has_pending_evaluations=pending)
