"""The lease engine's contract, once, for every lease kind on both databases.

Each kind brings a small harness: how to create work and how one owner claims it. Everything else
(renew, renew_all, hold, finish, release, reap, their neutral errors) is the engine's own and is
asserted the same way for all of them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from proctor.core import leases
from proctor.core.compute import flows as compute_flows
from proctor.core.compute import service as compute
from proctor.core.compute.schemas import JobSpec, OfferIn, policy_from
from proctor.core.context import Core
from proctor.core.evaluations import flows
from proctor.core.evaluations.statements import RUNS
from proctor.core.pool import flows as pool_flows
from proctor.core.pool import statements as pool_statements
from proctor.storage.db import unit_of_work
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
LEASE = 60


@dataclass
class Harness:
    kind: leases.LeaseKind
    add_work: Callable[[int], Awaitable[None]]  # n more pieces of work
    claim: Callable[[str, datetime], Awaitable[Any]]  # an owner claims one: its lease id, or None
    owners: Callable[[int], list[str]]  # n distinct owners
    outcome: dict[str, Any]  # what a finish records


async def evaluation_harness(world: World) -> Harness:
    counter = iter(range(10_000))

    async def add_work(n: int) -> None:
        for _ in range(n):
            await world.submit(miner(next(counter)), now=T0)

    async def claim(owner: str, now: datetime) -> Any:
        answer = await flows.claim_work(
            world.core, validator=owner, report=None, now=now, base_url="http://t"
        )
        return None if answer is None else answer.run.id

    return Harness(
        kind=RUNS,
        add_work=add_work,
        claim=claim,
        owners=lambda n: [f"val-{uuid.uuid4().hex[:8]}" for _ in range(n)],
        outcome={"validator_score": 0.5},
    )


async def compute_harness(world: World) -> Harness:
    policy = policy_from(world.settings)
    jobs: list[str] = []
    async with unit_of_work(world.sessionmaker) as s:
        client = (await compute.issue_client(s, name="acme", now=T0)).client_id

    async def add_work(n: int) -> None:
        async with unit_of_work(world.sessionmaker) as s:
            for _ in range(n):
                spec = JobSpec("m", None, 1, 600, 10**6, {}, 3600)
                jobs.append(
                    (await compute.create_job(s, client_id=client, spec=spec, policy=policy, now=T0)).id
                )

    def owners(n: int) -> list[str]:
        return [f"offer-{uuid.uuid4().hex[:8]}" for _ in range(n)]

    registered: dict[str, str] = {}

    async def claim(owner: str, now: datetime) -> Any:
        if owner not in registered:
            offer = OfferIn(owner, "any", 1, None, 1, 1)
            async with unit_of_work(world.sessionmaker) as s:
                registration = await compute.register_miner(s, offer=offer, policy=policy, now=now)
                await compute.approve_miner(s, miner_id=registration.miner.id, now=now)
            registered[owner] = registration.miner.id
        miner_id = registered[owner]
        for job_id in list(jobs):
            try:
                async with unit_of_work(world.sessionmaker) as s:
                    accepted = await compute_flows.accept_as(
                        s, miner_id=miner_id, job_id=job_id, policy=policy, now=now
                    )
                return accepted.assignment.id
            except (compute.JobAlreadyAssigned, compute.JobNotAvailable, compute.AtCapacity):
                continue
        return None

    harness = Harness(
        kind=compute.ASSIGNMENT_LEASES,
        add_work=add_work,
        claim=claim,
        owners=owners,
        outcome={"error": None},
    )
    # The lease's owner column holds the miner id, not the name the harness uses.
    harness.owner_of = registered  # type: ignore[attr-defined]
    return harness


async def bitrecs_harness(world: World) -> Harness:
    from proctor.core.bitrecs import flows as bitrecs_flows
    from proctor.core.bitrecs import statements as bitrecs_statements

    async def add_work(n: int) -> None:
        async with world.core.db.transaction() as tx:
            for _ in range(n):
                await tx.run(bitrecs_statements.INSERT_AGENT, bitrecs_agent(uuid.uuid4(), T0))

    async def claim(owner: str, now: datetime) -> Any:
        session = bitrecs_flows.Session(token_sha256="t", owner=owner, role="screener_1")
        assigned = await bitrecs_flows.request_evaluation(world.core, session=session, now=now)
        return None if assigned is None else uuid.UUID(assigned.evaluation_id)

    return Harness(
        kind=bitrecs_statements.EVALUATIONS,
        add_work=add_work,
        claim=claim,
        owners=lambda n: [f"screener-1-{uuid.uuid4().int % 10**8}" for _ in range(n)],
        outcome={"score": 0.5},
    )


def bitrecs_agent(agent_id: uuid.UUID, now: datetime) -> dict[str, Any]:
    """A Bitrecs agent waiting for screener 1 (the gist's facts do not matter to the lease engine)."""
    return {
        **dict.fromkeys(("miner_uid", "screener_1_score", "screener_2_score", "final_score")),
        **dict.fromkeys(("active_count", "success_count", "total_count"), 0),
        "id": agent_id,
        "miner_hotkey": f"hk-{agent_id.hex}",
        "gist_id": agent_id.hex,
        "github_account": "octo",
        "commit_sha": "c" * 40,
        "content_sha256": "0" * 64,
        "block": 1,
        "name": "agent",
        "version_num": 1,
        "status": "screening_1",
        "provider": "CHUTES",
        "model": "m",
        "system_prompt_template": "{{ persona }}",
        "user_prompt_template": "{{ num_recs }}",
        "sampling_params": {"temperature": 0.2},
        "fewshot_examples": [],
        "request_id": str(agent_id),
        "created_at": now,
    }


async def pool_harness(world: World) -> Harness:
    """Pool task leases: a batch is the work, a miner's assignment its lease (one miner per batch)."""

    async def add_work(n: int) -> None:
        batch = {"kind": "evaluate", "task_type": "t", "evaluate_ids": [], "seed_ids": [], "evolve_budget": 0}
        async with world.core.db.transaction() as tx:
            for _ in range(n):
                await tx.one(pool_statements.NEW_BATCH, {**batch, "now": T0})

    async def claim(owner: str, now: datetime) -> Any:
        return await pool_flows.take(world.core, miner=owner, kind="evaluate", now=now)

    return Harness(
        kind=pool_statements.ASSIGNMENTS,
        add_work=add_work,
        claim=claim,
        owners=lambda n: [f"pool-{uuid.uuid4().hex[:8]}" for _ in range(n)],
        outcome={"iterations": 3},
    )


HARNESSES = {
    "evaluation_run": evaluation_harness,
    "compute_job": compute_harness,
    "bitrecs_evaluation": bitrecs_harness,
    "pool_task": pool_harness,
}


@pytest.fixture(params=sorted(HARNESSES))
async def setup(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[World, Harness]]:
    overrides = {
        "eval_lease_seconds": LEASE,
        "compute_heartbeat_timeout_seconds": LEASE,
        "bitrecs_heartbeat_timeout_seconds": LEASE,
        "pool_lease_seconds": LEASE,
        "db_pool_size": 30,
    }
    async for world in make_world(database_url, tmp_path, **overrides):
        yield world, await HARNESSES[request.param](world)


def owner_id(h: Harness, owner: str) -> str:
    return getattr(h, "owner_of", {}).get(owner, owner)


async def tx_call(core: Core, fn: Callable[..., Awaitable[Any]], **kw: Any) -> Any:
    async with core.db.transaction() as tx:
        return await fn(tx, **kw)


async def test_renew_extends_a_live_lease_and_refuses_a_lapsed_one(setup: tuple[World, Harness]) -> None:
    world, h = setup
    await h.add_work(1)
    (owner,) = h.owners(1)
    lease = await h.claim(owner, T0)
    me = owner_id(h, owner)
    row = await tx_call(
        world.core,
        leases.renew,
        kind=h.kind,
        lease_id=lease,
        owner=me,
        now=T0 + timedelta(seconds=30),
        seconds=LEASE,
    )
    assert row.lease_expires_at == T0 + timedelta(seconds=30 + LEASE)
    with pytest.raises(leases.LeaseLost):
        await tx_call(
            world.core,
            leases.renew,
            kind=h.kind,
            lease_id=lease,
            owner=me,
            now=T0 + timedelta(seconds=200),
            seconds=LEASE,
        )
    with pytest.raises(leases.LeaseNotFound):
        await tx_call(
            world.core, leases.renew, kind=h.kind, lease_id=uuid.uuid4(), owner=me, now=T0, seconds=LEASE
        )


async def test_only_the_owner_writes(setup: tuple[World, Harness]) -> None:
    world, h = setup
    await h.add_work(1)
    owner, other = h.owners(2)
    lease = await h.claim(owner, T0)
    stranger = owner_id(h, other)
    for fn, extra in (
        (leases.renew, {"seconds": LEASE}),
        (leases.hold, {}),
        (leases.finish, {"status": sorted(h.kind.finished)[0], "values": h.outcome}),
    ):
        with pytest.raises(leases.NotOwner):
            await tx_call(world.core, fn, kind=h.kind, lease_id=lease, owner=stranger, now=T0, **extra)
    row = await tx_call(
        world.core, leases.hold, kind=h.kind, lease_id=lease, owner=owner_id(h, owner), now=T0
    )
    assert row.status in h.kind.live, "nothing a stranger tried changed the lease"


async def test_an_identical_finish_is_idempotent_and_a_different_one_a_conflict(
    setup: tuple[World, Harness],
) -> None:
    world, h = setup
    await h.add_work(1)
    (owner,) = h.owners(1)
    lease, me = await h.claim(owner, T0), owner_id(h, owner)
    done, other = sorted(h.kind.finished)[:2]
    first = await tx_call(
        world.core,
        leases.finish,
        kind=h.kind,
        lease_id=lease,
        owner=me,
        now=T0,
        status=done,
        values=h.outcome,
    )
    assert first.changed and first.row.status == done
    again = await tx_call(
        world.core,
        leases.finish,
        kind=h.kind,
        lease_id=lease,
        owner=me,
        now=T0 + timedelta(seconds=5),
        status=done,
        values=h.outcome,
    )
    assert not again.changed and again.row.status == done
    with pytest.raises(leases.AlreadyFinished):
        await tx_call(
            world.core,
            leases.finish,
            kind=h.kind,
            lease_id=lease,
            owner=me,
            now=T0,
            status=other,
            values=h.outcome,
        )
    with pytest.raises(leases.AlreadyFinished):
        await tx_call(world.core, leases.renew, kind=h.kind, lease_id=lease, owner=me, now=T0, seconds=LEASE)
    row = await tx_call(world.core, lambda tx: tx.one(h.kind.row_stmt, {"lease_id": lease}))
    assert row.status == done, "the different finish changed nothing"


async def test_reap_returns_lapsed_work_exactly_once(setup: tuple[World, Harness]) -> None:
    world, h = setup
    await h.add_work(3)
    owners = h.owners(3)
    claimed = [await h.claim(o, T0) for o in owners]
    assert None not in claimed
    later = T0 + timedelta(seconds=LEASE + 1)
    reaps = await asyncio.gather(
        tx_call(world.core, leases.reap, kind=h.kind, now=later),
        tx_call(world.core, leases.reap, kind=h.kind, now=later),
    )
    reaped = [row.id for rows in reaps for row in rows]
    assert sorted(map(str, reaped)) == sorted(map(str, claimed)), "every lapsed lease once, by one reaper"
    assert all(row.status == h.kind.expired for rows in reaps for row in rows)
    assert await tx_call(world.core, leases.reap, kind=h.kind, now=later + timedelta(hours=1)) == []
    with pytest.raises(leases.LeaseLost):
        await tx_call(
            world.core, leases.hold, kind=h.kind, lease_id=claimed[0], owner=owner_id(h, owners[0]), now=later
        )


async def test_renew_all_touches_only_the_owners_live_leases(setup: tuple[World, Harness]) -> None:
    world, h = setup
    await h.add_work(2)
    mine, theirs = h.owners(2)
    a, b = await h.claim(mine, T0), await h.claim(theirs, T0)
    assert a is not None and b is not None
    renewed = await tx_call(
        world.core,
        leases.renew_all,
        kind=h.kind,
        owner=owner_id(h, mine),
        now=T0 + timedelta(seconds=20),
        seconds=LEASE,
    )
    assert renewed == 1
    rows = {
        str(lease): await tx_call(
            world.core, lambda tx, lease=lease, k=h.kind: tx.one(k.row_stmt, {"lease_id": lease})
        )
        for lease in (a, b)
    }
    assert rows[str(a)].lease_expires_at == T0 + timedelta(seconds=20 + LEASE)
    assert rows[str(b)].lease_expires_at == T0 + timedelta(seconds=LEASE)
    lapsed = await tx_call(
        world.core,
        leases.renew_all,
        kind=h.kind,
        owner=owner_id(h, theirs),
        now=T0 + timedelta(hours=1),
        seconds=LEASE,
    )
    assert lapsed == 0, "a lapsed lease is the reaper's"


@pytest.mark.postgres
@pytest.mark.parametrize("kind", sorted(HARNESSES))
async def test_concurrent_claimers_never_share_work(kind: str, pg: Any, tmp_path: Path) -> None:
    from tests.support import services

    dbs: services.PostgresDatabases = pg
    url = dbs.url(await dbs.create())
    async for world in make_world(
        url, tmp_path, eval_lease_seconds=LEASE, pool_lease_seconds=LEASE, db_pool_size=30
    ):
        h = await HARNESSES[kind](world)
        await h.add_work(6)
        owners = h.owners(24)
        results = await asyncio.gather(*(h.claim(o, T0) for o in owners))
        won = [str(r) for r in results if r is not None]
        assert len(won) == len(set(won)), "no lease handed out twice"
        rows = [
            await tx_call(
                world.core, lambda tx, lease=lease, k=h.kind: tx.one(k.row_stmt, {"lease_id": lease})
            )
            for lease in won
        ]
        work = [str(getattr(r, h.kind.work_ref or "id")) for r in rows]
        per_work = {w: work.count(w) for w in work}
        capacity = 2 if h.kind is RUNS else 1  # an evaluation needs two validators, a job one miner
        assert set(per_work.values()) <= {capacity} and len(won) == 6 * capacity
