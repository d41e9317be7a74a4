"""The compute lifecycle in the core, on SQLite and PostgreSQL: accept, lease, complete, fail, sweep,
cancel, stats and the earnings ledger."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from proctor.core import leases
from proctor.core.compute import flows as compute_flows
from proctor.core.compute import keys, matching, money
from proctor.core.compute import service as compute
from proctor.core.compute.repository import ComputeRepository
from proctor.core.compute.schemas import CompletionReport, Heartbeat, JobSpec, OfferChanges, OfferIn
from proctor.errors import BadRequest
from proctor.models import ComputeAssignment, ComputeEarning, ComputeJob, ComputeMiner
from proctor.storage.db import unit_of_work
from tests.core.compute.conftest import POLICY, T0, Market

REPORT = CompletionReport(
    result_hash="sha256:" + "ab" * 32,
    execution_time_seconds=1800.0,
    gpu_time_seconds=1800.0,
    result={"ok": 1},
)


async def accept(market: Market, miner_id: str, job_id: str, now=T0) -> compute.Accepted:  # type: ignore[no-untyped-def]
    return await market.run(compute_flows.accept_as, miner_id=miner_id, job_id=job_id, policy=POLICY, now=now)


async def heartbeat(market: Market, miner_id: str, now: datetime) -> Heartbeat:
    return await market.run(compute_flows.heartbeat_as, miner_id=miner_id, policy=POLICY, now=now)


async def complete(market: Market, miner_id: str, job_id: str, now=T0, report=REPORT) -> compute.Completion:  # type: ignore[no-untyped-def]
    return await market.run(
        compute.complete, miner_id=miner_id, job_id=job_id, report=report, policy=POLICY, now=now
    )


async def fail(market: Market, miner_id: str, job_id: str, now=T0) -> ComputeJob:  # type: ignore[no-untyped-def]
    return await market.run(
        compute.fail, miner_id=miner_id, job_id=job_id, error="oom", policy=POLICY, now=now
    )


async def job_row(market: Market, job_id: str) -> ComputeJob:
    async with market.sessionmaker() as session:
        job = await session.get(ComputeJob, job_id)
        assert job is not None
        return job


class TestAccounts:
    async def test_registration_stores_only_a_digest_and_the_key_authenticates(self, market: Market) -> None:
        offer = OfferIn("rig", " RTX 4090 ", 2, "eu", 500_000, 3)
        registration = await market.run(compute.register_miner, offer=offer, policy=POLICY, now=T0)
        miner = registration.miner
        assert miner.api_key_hash == keys.digest(registration.api_key) != registration.api_key
        assert miner.gpu_type == "rtx 4090" and miner.status == "active"
        found = await market.run(compute.authenticate_miner, api_key=registration.api_key)
        assert found.id == miner.id
        for bad in (None, "", "mk_wrong", "x" * 5000):
            with pytest.raises(compute.InvalidApiKey):
                await market.run(compute.authenticate_miner, api_key=bad)

    async def test_pending_until_approved(self, market: Market) -> None:
        miner_id = await market.miner(approve=False)
        client = await market.client()
        job_id = await market.job(client)
        with pytest.raises(compute.MinerNotActive) as info:
            await accept(market, miner_id, job_id)
        assert info.value.error_code == "MINER_PENDING" and info.value.status == 403
        approved = await market.run(compute.approve_miner, miner_id=miner_id, now=T0)
        assert approved.status == "active"
        assert (await accept(market, miner_id, job_id)).job.state == "RUNNING"

    async def test_revoked_client_key_is_refused(self, market: Market) -> None:
        issued = await market.run(compute.issue_client, name="acme", now=T0)
        assert (await market.run(compute.authenticate_client, api_key=issued.api_key)).id == issued.client_id
        await market.run(compute.revoke_client, client_id=issued.client_id, now=T0)
        with pytest.raises(compute.InvalidApiKey):
            await market.run(compute.authenticate_client, api_key=issued.api_key)

    async def test_offer_update(self, market: Market) -> None:
        miner_id = await market.miner()
        changes = OfferChanges(gpu_type="H100", location="", price_per_hour_micro=7)
        miner = await market.run(compute.update_offer, miner_id=miner_id, changes=changes, now=T0)
        assert (miner.gpu_type, miner.location, miner.price_per_hour_micro, miner.gpu_count) == (
            "h100",
            None,
            7,
            1,
        )
        with pytest.raises(BadRequest) as info:
            await market.run(compute.update_offer, miner_id=miner_id, changes=OfferChanges(), now=T0)
        assert info.value.error_code == "EMPTY_UPDATE"

    def test_a_miner_sees_only_its_own_id(self) -> None:
        me = ComputeMiner(id="miner_a")
        assert compute.require_own(me, "miner_a") is me
        with pytest.raises(compute.MinerNotFound):
            compute.require_own(me, "miner_b")


class TestAvailable:
    async def test_lists_only_what_the_miner_can_run(self, market: Market) -> None:
        miner_id = await market.miner(gpu_type="a100", gpu_count=2, price_per_hour="2")
        client = await market.client()
        fits = [
            await market.job(client, price="1", estimated_time=1800, now=T0),
            await market.job(client, gpu_type=None, gpu_count=2, price="2", now=T0 + timedelta(seconds=1)),
        ]
        await market.job(client, gpu_type="v100")
        await market.job(client, gpu_count=3)
        await market.job(client, price="0.999999", estimated_time=1800)
        listed = await market.run(
            compute.available_jobs, miner_id=miner_id, now=T0 + timedelta(seconds=2), limit=50
        )
        assert [j.id for j in listed] == fits

    async def test_sql_and_pure_matching_agree(self, market: Market) -> None:
        rng = random.Random(7)
        client = await market.client()
        for _ in range(60):
            await market.job(
                client,
                gpu_type=rng.choice(["a100", "v100", None]),
                gpu_count=rng.randint(1, 4),
                estimated_time=rng.choice([1, 7, 600, 3600, 5000]),
                price=str(Decimal(rng.randint(0, 3_000_000)) / 1_000_000),
            )
        for _ in range(8):
            miner_id = await market.miner(
                gpu_type=rng.choice(["a100", "v100"]),
                gpu_count=rng.randint(1, 4),
                price_per_hour=str(Decimal(rng.randint(0, 4_000_000)) / 1_000_000),
                max_concurrent=5,
            )
            async with market.sessionmaker() as session:
                miner = await session.get(ComputeMiner, miner_id)
                assert miner is not None
                jobs = (await session.scalars(select(ComputeJob))).all()
                listed = {j.id for j in await ComputeRepository(session).available(miner, now=T0, limit=500)}
                counted = await ComputeRepository(session).count_available(miner, now=T0)
            expected = {
                j.id
                for j in jobs
                if matching.mismatch(compute.offer_of(miner), compute.requirement_of(j)) is None
            }
            assert listed == expected and counted == len(expected)

    async def test_nothing_listed_without_a_free_slot_or_after_the_ttl(self, market: Market) -> None:
        miner_id = await market.miner(max_concurrent=1)
        client = await market.client()
        first = await market.job(client, ttl_seconds=100)
        await market.job(client, ttl_seconds=100)
        await accept(market, miner_id, first)
        assert await market.run(compute.available_jobs, miner_id=miner_id, now=T0, limit=10) == []
        other = await market.miner()
        later = T0 + timedelta(seconds=100)
        assert await market.run(compute.available_jobs, miner_id=other, now=later, limit=10) == []


class TestAccept:
    async def test_the_second_miner_gets_409(self, market: Market) -> None:
        a, b = await market.miner(), await market.miner()
        job_id = await market.job(await market.client())
        got = await accept(market, a, job_id)
        assert got.assignment.attempt == 1 and got.assignment.lease_expires_at == T0 + timedelta(seconds=60)
        assert got.assignment.deadline_at == T0 + timedelta(seconds=7200)  # 3600 s × factor 2 + no grace
        with pytest.raises(compute.JobAlreadyAssigned) as info:
            await accept(market, b, job_id)
        assert info.value.status == 409

    async def test_a_retried_accept_gets_the_same_lease(self, market: Market) -> None:
        a = await market.miner(max_concurrent=1)
        job_id = await market.job(await market.client())
        first = await accept(market, a, job_id)
        again = await accept(market, a, job_id, now=T0 + timedelta(seconds=5))
        assert again.assignment.id == first.assignment.id

    async def test_capacity(self, market: Market) -> None:
        a = await market.miner(max_concurrent=2)
        client = await market.client()
        jobs = [await market.job(client) for _ in range(3)]
        await accept(market, a, jobs[0])
        await accept(market, a, jobs[1])
        with pytest.raises(compute.AtCapacity):
            await accept(market, a, jobs[2])

    async def test_unsuitable_missing_and_expired_jobs(self, market: Market) -> None:
        a = await market.miner(gpu_type="a100")
        client = await market.client()
        with pytest.raises(compute.JobNotEligible):
            await accept(market, a, await market.job(client, gpu_type="v100"))
        with pytest.raises(compute.JobNotFound):
            await accept(market, a, "job_missing")
        stale = await market.job(client, ttl_seconds=10)
        with pytest.raises(compute.JobNotAvailable) as info:
            await accept(market, a, stale, now=T0 + timedelta(seconds=10))
        assert info.value.error_code == "JOB_EXPIRED"

    async def test_offline_miner_must_heartbeat_first(self, market: Market) -> None:
        a = await market.miner()
        job_id = await market.job(await market.client(), ttl_seconds=3600)
        later = T0 + timedelta(seconds=61)
        assert (await market.run(compute.sweep, policy=POLICY, now=later)).offline_miners == 1
        with pytest.raises(compute.MinerNotActive) as info:
            await accept(market, a, job_id, now=later)
        assert info.value.error_code == "MINER_OFFLINE"
        beat = await heartbeat(market, a, later)
        assert beat.miner_status == "active" and beat.queue_length == 1
        assert (await accept(market, a, job_id, now=later)).job.state == "RUNNING"


class TestComplete:
    async def test_completes_once_and_pays_once(self, market: Market) -> None:
        a = await market.miner()
        job_id = await market.job(await market.client(), price="0.1", estimated_time=60)
        await accept(market, a, job_id)
        done = await complete(market, a, job_id, now=T0 + timedelta(seconds=50))
        assert done.changed and done.job.state == "COMPLETED" and done.earned_micro == 100_000
        repeat = await complete(market, a, job_id, now=T0 + timedelta(seconds=55))
        assert not repeat.changed and repeat.job.state == "COMPLETED"
        async with market.sessionmaker() as session:
            rows = (await session.scalars(select(ComputeEarning))).all()
        assert [(r.job_id, r.amount_micro, r.duration_ms) for r in rows] == [(job_id, 100_000, 50_000)]
        changed = CompletionReport("sha256:" + "cd" * 32, 1.0, 1.0)
        with pytest.raises(compute.ResultMismatch):
            await complete(market, a, job_id, report=changed)

    async def test_the_wrong_miner_is_refused(self, market: Market) -> None:
        a, b = await market.miner(), await market.miner()
        job_id = await market.job(await market.client())
        await accept(market, a, job_id)
        with pytest.raises(leases.NotOwner) as info:
            await complete(market, b, job_id)
        assert info.value.status == 409
        with pytest.raises(compute.JobNotFound):
            await complete(market, b, "job_missing")
        assert (await job_row(market, job_id)).state == "RUNNING"

    async def test_a_lapsed_lease_refuses_completion(self, market: Market) -> None:
        a = await market.miner()
        job_id = await market.job(await market.client())
        await accept(market, a, job_id)
        with pytest.raises(leases.LeaseLost):
            await complete(market, a, job_id, now=T0 + timedelta(seconds=60))

    async def test_heartbeats_keep_the_lease_but_not_past_the_deadline(self, market: Market) -> None:
        a = await market.miner()
        job_id = await market.job(await market.client(), estimated_time=60)  # deadline: 120 s
        await accept(market, a, job_id)
        for second in (50, 100):
            beat = await heartbeat(market, a, T0 + timedelta(seconds=second))
            assert beat.jobs_assigned == 1
        async with market.sessionmaker() as session:
            lease = await session.scalar(select(ComputeAssignment))
            assert lease is not None and lease.lease_expires_at == T0 + timedelta(seconds=120)
        assert (await complete(market, a, job_id, now=T0 + timedelta(seconds=119))).changed

    async def test_a_heartbeat_renews_only_the_miners_own_live_leases(self, market: Market) -> None:
        a, b = await market.miner(), await market.miner()
        client = await market.client()
        mine, theirs = await market.job(client), await market.job(client)
        await accept(market, a, mine)
        await accept(market, b, theirs)
        async with market.sessionmaker() as session:
            before = {x.job_id: x.lease_expires_at for x in await session.scalars(select(ComputeAssignment))}
        beat = await heartbeat(market, a, T0 + timedelta(seconds=20))
        assert beat.jobs_assigned == 1
        async with market.sessionmaker() as session:
            after = {x.job_id: x.lease_expires_at for x in await session.scalars(select(ComputeAssignment))}
        assert after[mine] > before[mine] and after[theirs] == before[theirs]
        # Once lapsed, a lease is the sweeper's: a late heartbeat does not revive it.
        late = await heartbeat(market, b, T0 + timedelta(hours=5))
        assert late.jobs_assigned == 0


class TestFail:
    async def test_back_to_the_queue_for_someone_else_then_failed(self, market: Market) -> None:
        a, b, c = await market.miner(), await market.miner(), await market.miner()
        job_id = await market.job(await market.client())
        await accept(market, a, job_id)
        job = await fail(market, a, job_id)
        assert (job.state, job.attempts, job.assigned_miner_id) == ("QUEUED", 1, None)
        assert (await fail(market, a, job_id)).state == "QUEUED", "repeating a fail changes nothing"
        assert job_id not in [
            j.id for j in await market.run(compute.available_jobs, miner_id=a, now=T0, limit=9)
        ]
        with pytest.raises(compute.JobNotEligible):
            await accept(market, a, job_id)
        await accept(market, b, job_id)
        job = await fail(market, b, job_id)
        assert job.state == "FAILED" and "attempt 2 of 2" in (job.error or "")
        with pytest.raises(compute.JobNotAvailable):
            await accept(market, c, job_id)
        with pytest.raises(leases.AlreadyFinished):
            await complete(market, b, job_id)


class TestSweep:
    async def test_a_silent_miner_goes_offline_and_its_job_goes_to_another(self, market: Market) -> None:
        a, b = await market.miner(), await market.miner()
        job_id = await market.job(await market.client(), ttl_seconds=3600)
        await accept(market, a, job_id)
        await heartbeat(market, b, T0 + timedelta(seconds=50))
        later = T0 + timedelta(seconds=61)
        swept = await market.run(compute.sweep, policy=POLICY, now=later)
        assert (swept.offline_miners, swept.reaped_leases, swept.requeued_jobs) == (1, 1, 1)
        assert (await job_row(market, job_id)).state == "QUEUED"
        await accept(market, b, job_id, now=later)
        assert (await complete(market, b, job_id, now=later)).changed
        with pytest.raises(leases.LeaseLost):
            await complete(market, a, job_id, now=later)
        stats = await market.run(compute.miner_stats, miner_id=a)
        assert (stats.total_jobs, stats.failed_jobs, stats.completed_jobs, stats.earnings_micro) == (
            1,
            1,
            0,
            0,
        )

    async def test_ttl_expiry_of_queued_and_of_jobs_handed_back_late(self, market: Market) -> None:
        a = await market.miner()
        client = await market.client()
        waiting = await market.job(client, ttl_seconds=30)
        running = await market.job(client, ttl_seconds=30)
        await accept(market, a, running)
        swept = await market.run(compute.sweep, policy=POLICY, now=T0 + timedelta(seconds=61))
        assert swept.expired_jobs == 1 and swept.requeued_jobs == 0
        assert (await job_row(market, waiting)).state == "EXPIRED"
        handed_back = await job_row(market, running)
        assert handed_back.state == "EXPIRED" and "ttl" in (handed_back.error or "")

    async def test_a_job_within_its_ttl_is_expired_lazily_when_read(self, market: Market) -> None:
        client = await market.client()
        job_id = await market.job(client, ttl_seconds=30)
        job = await market.run(
            compute.client_job, client_id=client, job_id=job_id, now=T0 + timedelta(seconds=30)
        )
        assert job.state == "EXPIRED"

    async def test_suspension_hands_jobs_back_at_once(self, market: Market) -> None:
        a = await market.miner()
        job_id = await market.job(await market.client())
        await accept(market, a, job_id)
        assert await market.run(compute.suspend_miner, miner_id=a, policy=POLICY, now=T0) == 1
        assert (await job_row(market, job_id)).state == "QUEUED"
        with pytest.raises(compute.MinerNotActive) as info:
            await heartbeat(market, a, T0)
        assert info.value.error_code == "MINER_SUSPENDED"


class TestClientJobs:
    async def test_create_validates_policy_bounds(self, market: Market) -> None:
        client = await market.client()
        spec = JobSpec("gpt2", "a100", 1, 60, 1, {"x": "y" * 2000}, None)
        with pytest.raises(BadRequest) as info:
            await market.run(compute.create_job, client_id=client, spec=spec, policy=POLICY, now=T0)
        assert info.value.error_code == "PAYLOAD_TOO_LARGE"
        long_ttl = JobSpec("gpt2", "a100", 1, 60, 1, {}, 3601)
        with pytest.raises(BadRequest):
            await market.run(compute.create_job, client_id=client, spec=long_ttl, policy=POLICY, now=T0)
        nan = JobSpec("gpt2", "a100", 1, 60, 1, {"x": float("nan")}, None)
        with pytest.raises(BadRequest):
            await market.run(compute.create_job, client_id=client, spec=nan, policy=POLICY, now=T0)

    async def test_cancel_and_visibility(self, market: Market) -> None:
        alice, bob = await market.client("alice"), await market.client("bob")
        a = await market.miner()
        queued, taken = await market.job(alice), await market.job(alice)
        await accept(market, a, taken)
        with pytest.raises(compute.JobNotFound):
            await market.run(compute.client_job, client_id=bob, job_id=queued, now=T0)
        with pytest.raises(compute.JobNotFound):
            await market.run(compute.cancel_job, client_id=bob, job_id=queued, now=T0)
        assert (
            await market.run(compute.cancel_job, client_id=alice, job_id=queued, now=T0)
        ).state == "CANCELED"
        assert (
            await market.run(compute.cancel_job, client_id=alice, job_id=queued, now=T0)
        ).state == "CANCELED"
        with pytest.raises(compute.JobNotCancelable):
            await market.run(compute.cancel_job, client_id=alice, job_id=taken, now=T0)
        with pytest.raises(compute.JobAlreadyAssigned):
            await accept(market, await market.miner(), taken)
        with pytest.raises(compute.JobNotAvailable):
            await accept(market, a, queued)

    async def test_result_readiness(self, market: Market) -> None:
        client = await market.client()
        a = await market.miner()
        job_id = await market.job(client)
        with pytest.raises(compute.JobNotReady) as info:
            await market.run(compute.job_result, client_id=client, job_id=job_id, now=T0)
        assert info.value.status == 425
        await accept(market, a, job_id)
        await complete(market, a, job_id)
        job = await market.run(compute.job_result, client_id=client, job_id=job_id, now=T0)
        assert job.result == {"ok": 1} and job.result_hash == REPORT.result_hash
        canceled = await market.job(client)
        await market.run(compute.cancel_job, client_id=client, job_id=canceled, now=T0)
        with pytest.raises(compute.JobHasNoResult):
            await market.run(compute.job_result, client_id=client, job_id=canceled, now=T0)


class TestStats:
    async def test_totals_and_exact_earnings(self, market: Market) -> None:
        a = await market.miner(max_concurrent=5)
        client = await market.client()
        paid = [await market.job(client, price="0.1", estimated_time=60) for _ in range(3)]
        failed = await market.job(client, price="5", estimated_time=60)
        for job_id in [*paid, failed]:
            await accept(market, a, job_id)
        for n, job_id in enumerate(paid, start=1):
            report = CompletionReport("sha256:" + "ab" * 32, 60.0, 1200.0)
            await complete(market, a, job_id, now=T0 + timedelta(seconds=10 * n), report=report)
        await fail(market, a, failed)
        stats = await market.run(compute.miner_stats, miner_id=a)
        assert (stats.total_jobs, stats.completed_jobs, stats.failed_jobs, stats.running_jobs) == (4, 3, 1, 0)
        assert stats.success_rate == 0.75
        assert stats.average_completion_time == 20.0
        assert money.from_micro(stats.earnings_micro) == Decimal("0.3")
        assert stats.earnings_per_gpu_hour == Decimal("0.300000")  # 0.3 over 3 × 1200 s = 1 GPU-hour
        async with market.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(ComputeEarning)) == 3

    async def test_a_miner_with_no_history(self, market: Market) -> None:
        stats = await market.run(compute.miner_stats, miner_id=await market.miner())
        assert (stats.total_jobs, stats.success_rate, stats.earnings_micro) == (0, 0.0, 0)
        assert stats.earnings_per_gpu_hour == Decimal("0.000000")


async def test_the_unit_of_work_rolls_back_a_refused_accept(market: Market) -> None:
    """A refused accept leaves nothing half-written (the caller's transaction is rolled back)."""
    a = await market.miner(max_concurrent=1)
    client = await market.client()
    first, second = await market.job(client), await market.job(client)
    await accept(market, a, first)
    with pytest.raises(compute.AtCapacity):
        async with unit_of_work(market.sessionmaker) as session:
            await compute_flows.accept_as(session, miner_id=a, job_id=second, policy=POLICY, now=T0)
    assert (await job_row(market, second)).state == "QUEUED"
