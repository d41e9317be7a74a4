"""The Merkle claim app's routes (reference pool-api §3.6), with paths relative to its mount point.

Proof reads are public. `POST …/claim` and `GET /ledger…` exist only with
PROCTOR_CLAIMS_SIMULATION=true, as in Pool: a real claim goes to the contract.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from proctor.core.rewards import claims as claim_service
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards.cache import NodeCache
from proctor.core.rewards.claims import ClaimInput
from proctor.core.rewards.errors import InvalidClaim
from proctor.core.rewards.merkle import LEAF_ENCODING
from proctor.http.deps import SessionDep, public_base_url, state_of
from proctor.http.params import Hotkey, Id64, Offset
from proctor.models.rewards import RewardEpoch
from proctor.storage.base import utcnow
from proctor.surfaces.claims import wire

CACHE_KEY = "reward_trees"
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": '`{"detail": "not found"}`'}}


async def tree_cache(request: Request) -> NodeCache:
    """The process's cache of published trees (created on first use)."""
    state = state_of(request)
    extra = state.core.caches.extra
    cache = extra.get(CACHE_KEY)
    if cache is None:
        cache = extra[CACHE_KEY] = NodeCache(state.settings.claims_tree_cache_mb * 2**20)
    return cache  # type: ignore[no-any-return]


CacheDep = Annotated[NodeCache, Depends(tree_cache)]
router = APIRouter(tags=["claims"])
simulation_router = APIRouter(tags=["claims: simulation"])


def _tree_uri(request: Request, epoch: int) -> str:
    # root_path is the mount prefix (/claims) on `proctor serve`, empty on the standalone app.
    return f"{public_base_url(request)}{request.scope.get('root_path', '')}/epoch/{epoch}/tree"


def _epoch_info(request: Request, epoch: RewardEpoch, default: int | None) -> wire.EpochInfo:
    return wire.EpochInfo(
        epoch=epoch.number,
        root=epoch.root,
        num_of_leaves=epoch.leaf_count,
        total_units=epoch.total_units,
        budget_units=epoch.budget_units,
        allocated_units=epoch.allocated_units,
        published_at=epoch.published_at,
        tree_uri=_tree_uri(request, epoch.number),
        leaf_encoding=epoch.leaf_encoding.split(","),
        source=epoch.source,
        source_sha256=epoch.source_sha256,
        is_default=epoch.number == default,
    )


def _package(package: epoch_service.ProofPackage) -> wire.ProofPackage:
    return wire.ProofPackage(
        epoch=package.epoch,
        index=package.index,
        hotkey=package.hotkey,
        recipient_coldkey=package.recipient_coldkey,
        amount=package.amount_units,
        amount_units=package.amount_units,
        proof=package.proof,
        root=package.root,
        leaf=package.leaf,
        value=package.value,
        leaf_encoding=list(LEAF_ENCODING),
    )


@router.get("/health", response_model=wire.Health)
async def health(request: Request, session: SessionDep) -> wire.Health:
    """Claim-app health: the default epoch and how many are published."""
    numbers = await epoch_service.epoch_numbers(session)
    simulation = state_of(request).settings.claims_simulation
    return wire.Health(
        default_epoch=numbers[0] if numbers else None, epochs=len(numbers), simulation=simulation
    )


@router.get("/epochs", response_model=wire.EpochList)
async def list_epochs(session: SessionDep) -> wire.EpochList:
    """Published epochs, newest first, and the default (newest) one."""
    numbers = await epoch_service.epoch_numbers(session)
    return wire.EpochList(epochs=numbers, default_epoch=numbers[0] if numbers else None)


@router.get("/epoch", response_model=wire.EpochInfo, responses=NOT_FOUND)
async def default_epoch(request: Request, session: SessionDep) -> wire.EpochInfo:
    """Metadata of the default (newest) epoch."""
    epoch = await epoch_service.get_epoch(session, number=None)
    return _epoch_info(request, epoch, epoch.number)


@router.get("/epoch/proof/{hotkey}", response_model=wire.ProofPackage, responses=NOT_FOUND)
@router.get("/epoch/claim/{hotkey}", response_model=wire.ProofPackage, responses=NOT_FOUND)
async def default_proof(hotkey: Hotkey, session: SessionDep, cache: CacheDep) -> wire.ProofPackage:
    """The hotkey's proof package in the default epoch."""
    return _package(await epoch_service.proof_package(session, number=None, hotkey=hotkey, cache=cache))


@router.get("/epoch/{epoch_id}", response_model=wire.EpochInfo, responses=NOT_FOUND)
async def epoch_by_id(epoch_id: Id64, request: Request, session: SessionDep) -> wire.EpochInfo:
    """Metadata of one epoch: root, number of leaves, total, publication time, tree URI."""
    epoch = await epoch_service.get_epoch(session, number=epoch_id)
    latest = await epoch_service.get_epoch(session, number=None)
    return _epoch_info(request, epoch, latest.number)


@router.get("/epoch/{epoch_id}/proof/{hotkey}", response_model=wire.ProofPackage, responses=NOT_FOUND)
@router.get("/epoch/{epoch_id}/claim/{hotkey}", response_model=wire.ProofPackage, responses=NOT_FOUND)
async def epoch_proof(
    epoch_id: Id64, hotkey: Hotkey, session: SessionDep, cache: CacheDep
) -> wire.ProofPackage:
    """The hotkey's proof package in one epoch; 404 `{"detail": "not found"}` without a leaf there."""
    return _package(await epoch_service.proof_package(session, number=epoch_id, hotkey=hotkey, cache=cache))


@router.get("/epoch/{epoch_id}/tree", responses=NOT_FOUND)
async def epoch_tree(
    epoch_id: Id64, request: Request, session: SessionDep, cache: CacheDep
) -> StreamingResponse:
    """The epoch's whole tree as OpenZeppelin's `standard-v1` dump (JS `StandardMerkleTree.load`)."""
    epoch = await epoch_service.get_epoch(session, number=epoch_id)
    sessionmaker = state_of(request).sessionmaker

    async def body() -> AsyncIterator[bytes]:
        # The request's session is committed before streaming starts; the dump reads on its own.
        async with sessionmaker() as reader:
            async for chunk in epoch_service.tree_dump(reader, epoch=epoch, cache=cache):
                yield chunk

    return StreamingResponse(body(), media_type="application/json")


async def _claim(number: int | None, body: wire.ClaimRequest, session: SessionDep) -> wire.ClaimReceipt:
    if body.epoch is not None and number is not None and body.epoch != number:
        raise InvalidClaim(f"the body names epoch {body.epoch}, the path epoch {number}")
    claim = ClaimInput(
        index=body.index,
        hotkey=body.hotkey,
        recipient_coldkey=body.recipient,
        amount_units=body.units,
        proof=body.proof,
    )
    number = number if number is not None else body.epoch
    record = await claim_service.claim(session, number=number, claim=claim, now=utcnow())
    return wire.ClaimReceipt(
        epoch=record.epoch_number,
        index=record.leaf_index,
        hotkey=record.hotkey,
        recipient_coldkey=record.recipient_coldkey,
        amount_units=record.amount_units,
        claimed_before_units=record.claimed_before_units,
        paid_units=record.paid_units,
        claimed_at=record.claimed_at,
    )


@simulation_router.post("/epoch/claim", response_model=wire.ClaimReceipt)
async def claim_default(body: wire.ClaimRequest, session: SessionDep) -> wire.ClaimReceipt:
    """Simulate `claim_single` against the default epoch (or the body's `epoch`)."""
    return await _claim(None, body, session)


@simulation_router.post("/epoch/{epoch_id}/claim", response_model=wire.ClaimReceipt)
async def claim_in_epoch(epoch_id: Id64, body: wire.ClaimRequest, session: SessionDep) -> wire.ClaimReceipt:
    """Simulate `claim_single` against one epoch: verify the proof, pay what is still owed."""
    return await _claim(epoch_id, body, session)


async def _ledger(number: int | None, session: SessionDep, limit: int, offset: int) -> wire.Ledger:
    ledger = await claim_service.ledger(session, number=number, limit=limit, offset=offset)
    return wire.Ledger(
        epoch=ledger.epoch.number,
        root=ledger.epoch.root,
        total_units=ledger.epoch.total_units,
        claim_count=ledger.claim_count,
        paid_units=ledger.paid_units,
        limit=limit,
        offset=offset,
        claims=[
            wire.LedgerEntry(
                index=c.leaf_index,
                hotkey=c.hotkey,
                recipient_coldkey=c.recipient_coldkey,
                amount_units=c.amount_units,
                claimed_before_units=c.claimed_before_units,
                paid_units=c.paid_units,
                claimed_at=c.claimed_at,
            )
            for c in ledger.claims
        ],
    )


Limit = Annotated[int, Query(ge=1, le=10_000)]


@simulation_router.get("/ledger", response_model=wire.Ledger, responses=NOT_FOUND)
async def default_ledger(session: SessionDep, limit: Limit = 1000, offset: Offset = 0) -> wire.Ledger:
    """The default epoch's simulated claims."""
    return await _ledger(None, session, limit, offset)


@simulation_router.get("/ledger/{epoch_id}", response_model=wire.Ledger, responses=NOT_FOUND)
async def epoch_ledger(
    epoch_id: Id64, session: SessionDep, limit: Limit = 1000, offset: Offset = 0
) -> wire.Ledger:
    """One epoch's simulated claims."""
    return await _ledger(epoch_id, session, limit, offset)
