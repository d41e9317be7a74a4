"""Epoch publication, proofs, recipients and simulated claims in the core, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proctor.auth.verifier import public_key
from proctor.config import Settings
from proctor.core.rewards import claims as claim_service
from proctor.core.rewards import epochs
from proctor.core.rewards import recipients as recipient_service
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards.cache import NodeCache
from proctor.core.rewards.errors import (
    AlreadyClaimed,
    EpochExists,
    EpochNotFound,
    EpochOutOfOrder,
    InvalidBudget,
    InvalidClaim,
    InvalidProof,
    InvalidRecipient,
    InvalidScores,
    LeafNotFound,
    NothingToPublish,
    StaleRecipientUpdate,
)
from proctor.core.rewards.merkle import LEAF_ENCODING, StandardMerkleTree, verify
from proctor.core.rewards.sources import ScoreSource, parse_snapshot
from proctor.models import RewardEpoch, RewardLeaf
from proctor.storage import migrate
from proctor.storage.db import create_engine, create_sessionmaker, unit_of_work
from tests.core.rewards.conftest import NodeRunner
from tests.core.rewards.keys import address_with_prefix, hotkey, snapshot
from tests.support.signing import ALICE, BOB, CHARLIE

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
A, B, C = ALICE.ss58_address, BOB.ss58_address, CHARLIE.ss58_address
COLD1, COLD2 = hotkey("cold-1"), hotkey("cold-2")
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Maker]:
    settings = Settings(database_url=database_url)
    await migrate.upgrade(settings)
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


def scores(*competitions: tuple[Any, dict[str, Any]]) -> ScoreSource:
    return parse_snapshot(json.dumps(snapshot(*competitions)).encode(), label="test")


async def publish(db: Maker, budget: int, source: ScoreSource, **kw: Any) -> RewardEpoch:
    async with unit_of_work(db) as s:
        published = await epoch_service.publish_epoch(
            s, budget_units=budget, scores=source, now=kw.pop("now", T0), **kw
        )
    return published.epoch


async def package(db: Maker, number: int | None, hk: str) -> epoch_service.ProofPackage:
    async with db() as s:
        return await epoch_service.proof_package(s, number=number, hotkey=hk, cache=NodeCache(2**30))


async def set_recipient(db: Maker, hk: str, cold: str, signed_at: int | None = None) -> Any:
    async with unit_of_work(db) as s:
        return await recipient_service.set_recipient(
            s, hotkey=hk, recipient_coldkey=cold, signed_at=signed_at, now=T0
        )


class TestPublish:
    async def test_first_epoch_leaves_tree_and_proofs(self, db: Maker) -> None:
        await set_recipient(db, B, COLD1)
        epoch = await publish(db, 1000, scores((3, {A: 1, B: 3}), (1, {C: "0.5"})))
        assert (epoch.number, epoch.leaf_count, epoch.total_units, epoch.allocated_units) == (
            1,
            3,
            1000,
            1000,
        )
        # 187.5 and 562.5 tie on the remainder: the unit goes to the smaller hotkey (Bob, 5FHne… < 5Grwv…).
        expected = {A: (A, 187), B: (COLD1, 563), C: (C, 250)}
        values = []
        for i, hk in enumerate(sorted(expected)):
            p = await package(db, 1, hk)
            recipient, amount = expected[hk]
            assert (p.index, p.hotkey, p.recipient_coldkey, p.amount_units, p.root) == (
                i,
                hk,
                recipient,
                amount,
                epoch.root,
            )
            value = (1, i, public_key(hk), public_key(recipient), amount)
            assert verify(p.root, LEAF_ENCODING, value, p.proof)
            assert p.value == epochs.json_value(*value)
            values.append(value)
        assert StandardMerkleTree.of(values).root == epoch.root

    async def test_amounts_are_cumulative_and_recipients_frozen_per_epoch(self, db: Maker) -> None:
        await set_recipient(db, A, COLD1)
        first = await publish(db, 100, scores((1, {A: 1, B: 1})))
        await set_recipient(db, A, COLD2)
        second = await publish(db, 60, scores((1, {B: 1, C: 2})), now=T0 + timedelta(hours=1))
        assert second.number == 2 and second.total_units == 160
        old = await package(db, first.number, A)
        assert (old.recipient_coldkey, old.amount_units, old.root) == (COLD1, 50, first.root)
        new_a, new_b, new_c = [await package(db, 2, h) for h in (A, B, C)]
        assert (new_a.recipient_coldkey, new_a.amount_units) == (COLD2, 50), "absent from the scores: kept"
        assert (new_b.amount_units, new_c.amount_units) == (70, 40)
        assert (await package(db, None, B)).epoch == 2, "the default epoch is the newest"

    async def test_published_epoch_never_changes(self, db: Maker) -> None:
        first = await publish(db, 100, scores((1, {A: 1})))
        with pytest.raises(EpochExists):
            await publish(db, 100, scores((1, {B: 1})), number=1)
        await publish(db, 100, scores((1, {B: 1})), number=5)
        with pytest.raises(EpochOutOfOrder):
            await publish(db, 100, scores((1, {B: 1})), number=3)
        async with db() as s:
            again = await epoch_service.get_epoch(s, number=1)
            numbers = await epoch_service.epoch_numbers(s)
        assert (again.root, again.total_units) == (first.root, first.total_units)
        assert numbers == [5, 1]

    @pytest.mark.parametrize(
        ("budget", "source", "error"),
        [
            (100, {"competitions": [{"weight": 1, "miners": [{"hotkey": A, "score": 0}]}]}, NothingToPublish),
            (
                100,
                {"competitions": [{"weight": 1, "miners": [{"hotkey": "5NotAnAddress", "score": 1}]}]},
                InvalidScores,
            ),
            (0, {"competitions": []}, InvalidBudget),
            (2**63, {"competitions": []}, InvalidBudget),
        ],
    )
    async def test_refusals_write_nothing(self, db: Maker, budget: int, source: Any, error: type) -> None:
        with pytest.raises(error):
            await publish(db, budget, parse_snapshot(json.dumps(source).encode(), label="t"))
        async with db() as s:
            assert await s.scalar(select(func.count()).select_from(RewardEpoch)) == 0
            assert await s.scalar(select(func.count()).select_from(RewardLeaf)) == 0

    async def test_missing_epoch_and_leaf_are_not_found(self, db: Maker) -> None:
        with pytest.raises(EpochNotFound):
            await package(db, None, A)
        await publish(db, 10, scores((1, {A: 1})))
        with pytest.raises(LeafNotFound) as info:
            await package(db, 1, B)
        assert info.value.message == "not found" and info.value.status == 404
        with pytest.raises(EpochNotFound):
            await package(db, 2, A)

    async def test_periodic_publisher_publishes_once_per_interval(self, db: Maker) -> None:
        async def tick(now: datetime) -> epoch_service.Published | None:
            async def load(_: AsyncSession) -> ScoreSource:
                return scores((1, {A: 1}))

            async with unit_of_work(db) as s:
                return await epoch_service.publish_if_due(
                    s, budget_units=10, load_scores=load, interval_seconds=3600, now=now
                )

        assert (await tick(T0)) is not None
        assert (await tick(T0 + timedelta(minutes=59))) is None
        later = await tick(T0 + timedelta(hours=1))
        assert later is not None and later.epoch.number == 2 and later.epoch.total_units == 20


class TestTreeDump:
    async def test_dump_is_the_standard_v1_dump_of_the_tree(self, db: Maker) -> None:
        many = {hotkey(f"m{i}"): i + 1 for i in range(45)}
        epoch = await publish(db, 10**12, scores((1, many)))
        async with db() as s:
            row = await epoch_service.get_epoch(s, number=1)
            chunks = [c async for c in epoch_service.tree_dump(s, epoch=row, cache=NodeCache(2**20))]
        text = b"".join(chunks)
        loaded = StandardMerkleTree.load(json.loads(text))
        assert loaded.root == epoch.root
        assert text == json.dumps(loaded.dump()).encode(), "byte-identical to the library's own dump"

    async def test_javascript_library_accepts_the_served_tree_and_proofs(
        self, db: Maker, oz_node: NodeRunner
    ) -> None:
        many = {hotkey(f"j{i}"): i * 7 + 1 for i in range(30)}
        await set_recipient(db, hotkey("j3"), COLD1)
        epoch = await publish(db, 10**15, scores((2, many), (1, {A: 1})))
        async with db() as s:
            row = await epoch_service.get_epoch(s, number=1)
            dump = json.loads(
                b"".join([c async for c in epoch_service.tree_dump(s, epoch=row, cache=NodeCache(2**20))])
            )
        packages = [await package(db, 1, h) for h in sorted([*many, A])]
        tree = StandardMerkleTree.load(dump)
        multiproof = tree.get_multiproof([0, 5, 9])
        payload = {
            "leafEncoding": list(LEAF_ENCODING),
            "values": [p.value for p in packages],
            "sortLeaves": True,
            "multiproofIndices": [0, 5, 9],
            "proctor": {
                "root": epoch.root,
                "proofs": [p.proof for p in packages],
                "multiproof": {**multiproof, "leaves": [epochs.json_value(*v) for v in multiproof["leaves"]]},
                "dump": dump,
            },
        }
        [js] = oz_node("cases.js", [payload])
        assert js["root"] == epoch.root
        assert js["loadError"] is None and js["loadedRoot"] == epoch.root
        assert js["staticVerify"] == [True] * len(packages)
        assert js["dump"] == dump


class TestRecipients:
    async def test_history_and_strip(self, db: Maker) -> None:
        first = await set_recipient(db, A, f"  {COLD1}\n", signed_at=100)
        same = await set_recipient(db, A, COLD1, signed_at=100)
        second = await set_recipient(db, A, COLD2, signed_at=101)
        assert (first.changed, same.changed, second.changed) == (True, False, True)
        assert second.previous_recipient_coldkey == COLD1
        async with db() as s:
            view = await recipient_service.get_recipient(s, hotkey=A, history_limit=10)
            unset = await recipient_service.get_recipient(s, hotkey=B)
        assert view.recipient_coldkey == COLD2
        assert [c.recipient_coldkey for c in view.history] == [COLD2, COLD1]
        assert (unset.recipient_coldkey, unset.effective_recipient) == (None, B)

    async def test_replayed_older_update_cannot_roll_back(self, db: Maker) -> None:
        await set_recipient(db, A, COLD1, signed_at=1000)
        await set_recipient(db, A, COLD2, signed_at=1010)
        with pytest.raises(StaleRecipientUpdate):
            await set_recipient(db, A, COLD1, signed_at=1000)
        with pytest.raises(StaleRecipientUpdate):
            await set_recipient(db, A, COLD1, signed_at=1010)
        retry = await set_recipient(db, A, COLD2, signed_at=1010)
        assert not retry.changed

    @pytest.mark.parametrize("bad", ["", "   ", "not-an-address", "0x" + "ab" * 32, A + "x"])
    async def test_invalid_recipient(self, db: Maker, bad: str) -> None:
        with pytest.raises(InvalidRecipient):
            await set_recipient(db, A, bad)


class TestClaims:
    async def claim(self, db: Maker, p: epoch_service.ProofPackage, **changes: Any) -> Any:
        fields: dict[str, Any] = {
            "index": p.index,
            "hotkey": p.hotkey,
            "recipient_coldkey": p.recipient_coldkey,
            "amount_units": p.amount_units,
            "proof": p.proof,
        }
        fields.update(changes)
        async with unit_of_work(db) as s:
            return await claim_service.claim(
                s, number=p.epoch, claim=claim_service.ClaimInput(**fields), now=T0
            )

    async def test_cumulative_claims_pay_the_difference(self, db: Maker) -> None:
        await publish(db, 100, scores((1, {A: 1, B: 1})))
        await publish(db, 100, scores((1, {A: 1})))
        first = await self.claim(db, await package(db, 1, A))
        assert (first.paid_units, first.claimed_before_units) == (50, 0)
        second = await self.claim(db, await package(db, 2, A))
        assert (second.paid_units, second.claimed_before_units, second.amount_units) == (100, 50, 150)
        with pytest.raises(AlreadyClaimed):
            await self.claim(db, await package(db, 2, A))
        b_latest = await self.claim(db, await package(db, 2, B))
        assert b_latest.paid_units == 50
        with pytest.raises(AlreadyClaimed):
            await self.claim(db, await package(db, 1, B)), "an older leaf is covered by the newer claim"
        async with db() as s:
            ledger = await claim_service.ledger(s, number=2, limit=10, offset=0)
        assert (ledger.claim_count, ledger.paid_units) == (2, 150)

    async def test_concurrent_claims_never_pay_twice(self, db: Maker) -> None:
        await publish(db, 100, scores((1, {A: 1, B: 1})))
        await publish(db, 100, scores((1, {A: 1})))
        first, second = await package(db, 1, A), await package(db, 2, A)
        outcomes = await asyncio.gather(
            *(self.claim(db, p) for p in (first, second, first, second, second, first)),
            return_exceptions=True,
        )
        paid = [o.paid_units for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert all(isinstance(o, AlreadyClaimed) for o in refused), refused
        assert 1 <= len(paid) <= 2 and sum(paid) <= second.amount_units
        async with db() as s:
            ledger = await claim_service.ledger(s, number=2, limit=10, offset=0)
            earlier = await claim_service.ledger(s, number=1, limit=10, offset=0)
        assert ledger.paid_units + earlier.paid_units == sum(paid)

    async def test_forgeries_are_refused(self, db: Maker) -> None:
        await publish(db, 100, scores((1, {A: 1, B: 3})))
        p = await package(db, 1, A)
        flipped = p.proof[0][:-1] + ("0" if p.proof[0][-1] != "0" else "1")
        changes: dict[str, Any]
        for changes in (
            {"amount_units": p.amount_units + 1},
            {"recipient_coldkey": COLD1},
            {"index": p.index + 1},
            {"hotkey": B},
            {"proof": [flipped, *p.proof[1:]]},
            {"proof": []},
        ):
            with pytest.raises(InvalidProof):
                await self.claim(db, p, **changes)
        for changes in ({"proof": ["0x12"]}, {"hotkey": "bogus"}, {"amount_units": 2**64}, {"index": -1}):
            with pytest.raises(InvalidClaim):
                await self.claim(db, p, **changes)
        other_spelling = address_with_prefix(public_key(A), 0)  # Polkadot's spelling of Alice's key
        assert other_spelling != A and public_key(other_spelling) == public_key(A)
        await self.claim(db, p)
        with pytest.raises(AlreadyClaimed):
            (
                await self.claim(db, p, hotkey=other_spelling),
                "another SS58 spelling of the key is the same claimer",
            )
