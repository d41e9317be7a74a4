"""Reward epochs: publication and the reads the claim app serves.

Publication runs in the caller's one transaction: lock (PostgreSQL), read the latest epoch's
cumulative amounts and the recipient mapping, compute off the event loop (allocation, public keys,
Merkle tree), then insert the epoch row (its tree as one blob) and its leaves. Nothing is written
unless every step succeeded. An epoch number is unique and a published epoch is never updated:
publishing an existing number is `EpochExists`, and the periodic publisher skips a window whose
epoch is already out.

Which epoch is the default: the newest published one. Its amounts are cumulative, so it supersedes
every earlier epoch for claiming; clients that walk epochs newest-first stop there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.rewards import epochs
from proctor.core.rewards.allocation import MAX_UNITS, accumulate, allocate
from proctor.core.rewards.cache import NodeCache
from proctor.core.rewards.errors import (
    EpochExists,
    EpochNotFound,
    EpochOutOfOrder,
    InvalidBudget,
    InvalidEpochNumber,
    InvalidScores,
    LeafNotFound,
    NothingToPublish,
)
from proctor.core.rewards.merkle import LEAF_ENCODING
from proctor.core.rewards.repository import EpochRepository, RecipientRepository
from proctor.core.rewards.sources import ScoreSource
from proctor.models.rewards import RewardEpoch

DUMP_PAGE = 20_000
ScoreLoader = Callable[[AsyncSession], Awaitable[ScoreSource]]


@dataclass(frozen=True)
class Published:
    epoch: RewardEpoch
    new_hotkeys: int  # hotkeys with a leaf for the first time


@dataclass(frozen=True)
class ProofPackage:
    """A leaf and its proof, as a claimer submits them (`amount` is the cumulative amount)."""

    epoch: int
    index: int
    hotkey: str
    recipient_coldkey: str
    amount_units: int
    proof: list[str]
    root: str
    leaf: str
    value: list[str]


def _check_budget(budget_units: int) -> None:
    if not 0 < budget_units <= MAX_UNITS:
        raise InvalidBudget(f"budget must be a whole number of units between 1 and {MAX_UNITS}")


async def publish_epoch(
    session: AsyncSession,
    *,
    budget_units: int,
    scores: ScoreSource,
    now: datetime,
    number: int | None = None,
) -> Published:
    """Publish the next epoch (or `number`): `budget_units` split over `scores`, added to the last one."""
    _check_budget(budget_units)
    repository = EpochRepository(session)
    await repository.lock_for_publication()
    latest = await repository.latest()
    number = _next_number(latest, number)
    if await repository.get(number) is not None:
        raise EpochExists(f"epoch {number} is already published; a published epoch never changes")
    previous, keys = await repository.amounts_and_keys(latest.number) if latest else ({}, {})
    recipients = await RecipientRepository(session).mapping()
    allocation, plan = await asyncio.to_thread(
        _compute, number, budget_units, scores, previous, recipients, keys
    )
    epoch = RewardEpoch(
        number=number,
        root=plan.root,
        leaf_count=plan.leaf_count,
        total_units=plan.total_units,
        budget_units=budget_units,
        allocated_units=allocation,
        leaf_encoding=",".join(LEAF_ENCODING),
        source=scores.label,
        source_sha256=scores.sha256,
        published_at=now,
        nodes=plan.nodes,
    )
    await repository.add(epoch, plan.rows())
    return Published(epoch=epoch, new_hotkeys=len(set(plan.hotkeys) - previous.keys()))


def _next_number(latest: RewardEpoch | None, number: int | None) -> int:
    if number is None:
        return latest.number + 1 if latest else 1
    if not 0 <= number < 2**63:
        raise InvalidEpochNumber()
    if latest is not None and number < latest.number:
        raise EpochOutOfOrder(f"epoch {number} is older than the latest published epoch {latest.number}")
    return number


def _compute(
    number: int,
    budget_units: int,
    scores: ScoreSource,
    previous: dict[str, int],
    recipients: dict[str, str],
    keys: dict[str, bytes],
) -> tuple[int, epochs.EpochPlan]:
    """The CPU-bound part (run in a thread): allocation, cumulative amounts, public keys and the tree."""
    try:
        allocation = allocate(budget_units, scores.competitions)
        if not allocation.amounts:
            raise NothingToPublish(f"no hotkey has a positive score in {scores.label}: nothing to publish")
        amounts = accumulate(previous, allocation.amounts)
    except ValueError as exc:
        raise InvalidScores(str(exc)) from None
    return allocation.allocated_units, epochs.plan_epoch(number, amounts, recipients, keys)


async def publish_if_due(
    session: AsyncSession,
    *,
    budget_units: int,
    load_scores: ScoreLoader,
    interval_seconds: float,
    now: datetime,
) -> Published | None:
    """The periodic publisher's tick: publish when the latest epoch is `interval_seconds` old.

    Scores are loaded only when an epoch is due. A second replica (or a second tick) finds the new
    epoch and does nothing, so a window gets one epoch.
    """
    if not await is_due(session, interval_seconds=interval_seconds, now=now):
        return None
    scores = await load_scores(session)
    return await publish_epoch(session, budget_units=budget_units, scores=scores, now=now)


async def is_due(session: AsyncSession, *, interval_seconds: float, now: datetime) -> bool:
    """True when no epoch was published in the last `interval_seconds`."""
    latest = await EpochRepository(session).latest()
    return latest is None or now - latest.published_at >= timedelta(seconds=interval_seconds)


async def epoch_numbers(session: AsyncSession) -> list[int]:
    """Published epoch numbers, newest first."""
    return await EpochRepository(session).numbers()


async def list_epochs(session: AsyncSession) -> Sequence[RewardEpoch]:
    """Published epochs (without their trees), newest first."""
    return await EpochRepository(session).all()


async def get_epoch(session: AsyncSession, *, number: int | None) -> RewardEpoch:
    """Epoch `number`, or the default (newest) epoch when None."""
    repository = EpochRepository(session)
    epoch = await (repository.latest() if number is None else repository.get(number))
    if epoch is None:
        raise EpochNotFound()
    return epoch


async def tree_nodes(session: AsyncSession, *, epoch: RewardEpoch, cache: NodeCache) -> bytes:
    """The epoch's flat node array, from the cache or the database."""

    async def load() -> bytes:
        nodes = await EpochRepository(session).nodes(epoch.number)
        if nodes is None:
            raise EpochNotFound()
        return nodes

    return await cache.get((epoch.number, epoch.root), load)


async def proof_package(
    session: AsyncSession, *, number: int | None, hotkey: str, cache: NodeCache
) -> ProofPackage:
    """The leaf of `hotkey` in an epoch (default: newest) with its proof; LeafNotFound when none."""
    epoch = await get_epoch(session, number=number)
    leaf = await EpochRepository(session).leaf(epoch.number, hotkey)
    if leaf is None:
        raise LeafNotFound()
    nodes = await tree_nodes(session, epoch=epoch, cache=cache)
    return ProofPackage(
        epoch=epoch.number,
        index=leaf.leaf_index,
        hotkey=leaf.hotkey,
        recipient_coldkey=leaf.recipient_coldkey,
        amount_units=leaf.amount_units,
        proof=epochs.sibling_path(nodes, leaf.tree_index),
        root=epoch.root,
        leaf="0x" + epochs.node_at(nodes, leaf.tree_index).hex(),
        value=epochs.json_value(
            epoch.number, leaf.leaf_index, leaf.hotkey_pubkey, leaf.recipient_pubkey, leaf.amount_units
        ),
    )


async def tree_dump(session: AsyncSession, *, epoch: RewardEpoch, cache: NodeCache) -> AsyncIterator[bytes]:
    """The epoch's `standard-v1` dump as JSON chunks (streamed: a million leaves are ~300 MB)."""
    nodes = await tree_nodes(session, epoch=epoch, cache=cache)
    for chunk in epochs.dump_head(nodes):
        yield chunk
    repository = EpochRepository(session)
    after, first = -1, True
    while rows := await repository.leaf_rows(epoch.number, after_index=after, limit=DUMP_PAGE):
        yield epochs.dump_values(list(rows), epoch.number, first=first)
        after, first = rows[-1][0], False
    yield epochs.DUMP_TAIL
