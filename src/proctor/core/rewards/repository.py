"""Every query of the reward domain: epochs and leaves, recipient coldkeys, the simulated claim ledger."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.core.rewards.epochs import LeafRow
from proctor.core.rewards.errors import AlreadyClaimed, EpochExists
from proctor.errors import Conflict
from proctor.models.rewards import (
    RecipientColdkey,
    RecipientColdkeyChange,
    RewardClaim,
    RewardEpoch,
    RewardLeaf,
)

LEAF_COLUMNS = (
    "epoch_number",
    "hotkey",
    "leaf_index",
    "recipient_coldkey",
    "amount_units",
    "tree_index",
    "hotkey_pubkey",
    "recipient_pubkey",
)
BULK_CHUNK = 50_000
# Serialises publishers across processes on PostgreSQL (SQLite has a single writer anyway).
PUBLISH_LOCK_KEY = int.from_bytes(hashlib.sha256(b"proctor.rewards.publish").digest()[:8], "big", signed=True)


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class EpochRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_for_publication(self) -> None:
        """Hold publication and recipient writes until this transaction ends (PostgreSQL).

        The SHARE lock on `recipient_coldkeys` lets every read through but makes recipient updates
        wait, so an update acknowledged before the epoch commits is in it and a later one is not.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK_KEY})
            await self.session.execute(text("LOCK TABLE recipient_coldkeys IN SHARE MODE"))

    async def latest(self) -> RewardEpoch | None:
        query = select(RewardEpoch).order_by(RewardEpoch.number.desc()).limit(1)
        return await self.session.scalar(query)

    async def get(self, number: int) -> RewardEpoch | None:
        return await self.session.get(RewardEpoch, number)

    async def all(self) -> Sequence[RewardEpoch]:
        return (await self.session.scalars(select(RewardEpoch).order_by(RewardEpoch.number.desc()))).all()

    async def numbers(self) -> list[int]:
        query = select(RewardEpoch.number).order_by(RewardEpoch.number.desc())
        return list((await self.session.scalars(query)).all())

    async def nodes(self, number: int) -> bytes | None:
        value = await self.session.scalar(select(RewardEpoch.nodes).where(RewardEpoch.number == number))
        return bytes(value) if value is not None else None

    async def amounts_and_keys(self, number: int) -> tuple[dict[str, int], dict[str, bytes]]:
        """Each hotkey's cumulative amount in epoch `number`, and the public keys the leaves hold."""
        query = select(
            RewardLeaf.hotkey,
            RewardLeaf.amount_units,
            RewardLeaf.hotkey_pubkey,
            RewardLeaf.recipient_coldkey,
            RewardLeaf.recipient_pubkey,
        ).where(RewardLeaf.epoch_number == number)
        amounts: dict[str, int] = {}
        keys: dict[str, bytes] = {}
        for hotkey, amount, hotkey_key, recipient, recipient_key in await self.session.execute(query):
            amounts[hotkey] = amount
            keys[hotkey] = bytes(hotkey_key)
            keys[recipient] = bytes(recipient_key)
        return amounts, keys

    async def leaf(self, number: int, hotkey: str) -> RewardLeaf | None:
        return await self.session.get(RewardLeaf, (number, hotkey))

    async def leaf_at(self, number: int, index: int) -> RewardLeaf | None:
        query = select(RewardLeaf).where(RewardLeaf.epoch_number == number, RewardLeaf.leaf_index == index)
        return await self.session.scalar(query)

    async def leaf_rows(
        self, number: int, *, after_index: int, limit: int
    ) -> Sequence[tuple[int, bytes, bytes, int, int]]:
        """(index, hotkey key, recipient key, amount, tree index) in index order, keyset-paginated."""
        query = (
            select(
                RewardLeaf.leaf_index,
                RewardLeaf.hotkey_pubkey,
                RewardLeaf.recipient_pubkey,
                RewardLeaf.amount_units,
                RewardLeaf.tree_index,
            )
            .where(RewardLeaf.epoch_number == number, RewardLeaf.leaf_index > after_index)
            .order_by(RewardLeaf.leaf_index)
            .limit(limit)
        )
        rows = (await self.session.execute(query)).all()
        return [(i, bytes(hk), bytes(rk), amount, pos) for i, hk, rk, amount, pos in rows]

    async def add(self, epoch: RewardEpoch, leaves: Iterable[LeafRow]) -> None:
        """Insert an epoch and its leaves (Conflict if the number is taken)."""
        self.session.add(epoch)
        try:
            await self.session.flush()
        except IntegrityError:
            raise EpochExists(f"epoch {epoch.number} was published concurrently") from None
        await self._bulk_insert_leaves(leaves)

    async def _bulk_insert_leaves(self, leaves: Iterable[LeafRow]) -> None:
        """A million rows in seconds: COPY on PostgreSQL, the driver's executemany on SQLite.

        Both run on the session's own connection, inside its transaction (the epoch row was flushed
        first, so the transaction is open), so the epoch and its leaves commit or vanish together.
        """
        connection = await self.session.connection()
        dialect = connection.dialect.name
        if dialect not in ("postgresql", "sqlite"):
            for chunk in _chunks(leaves, BULK_CHUNK):
                rows = [dict(zip(LEAF_COLUMNS, row, strict=True)) for row in chunk]
                await self.session.execute(insert(RewardLeaf), rows)
            return
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        if dialect == "postgresql":
            for chunk in _chunks(leaves, BULK_CHUNK):
                await driver.copy_records_to_table("reward_leaves", records=chunk, columns=list(LEAF_COLUMNS))
            return
        sql = f"INSERT INTO reward_leaves ({', '.join(LEAF_COLUMNS)}) VALUES ({', '.join('?' * 8)})"
        for chunk in _chunks(leaves, BULK_CHUNK):
            cursor = await driver.executemany(sql, chunk)
            await cursor.close()


class RecipientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, hotkey: str, *, for_update: bool = False) -> RecipientColdkey | None:
        query = select(RecipientColdkey).where(RecipientColdkey.hotkey == hotkey)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def mapping(self) -> dict[str, str]:
        """Every hotkey's current recipient."""
        rows = await self.session.execute(select(RecipientColdkey.hotkey, RecipientColdkey.recipient_coldkey))
        return {hotkey: recipient for hotkey, recipient in rows}

    async def history(self, hotkey: str, *, limit: int) -> Sequence[RecipientColdkeyChange]:
        query = (
            select(RecipientColdkeyChange)
            .where(RecipientColdkeyChange.hotkey == hotkey)
            .order_by(RecipientColdkeyChange.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(query)).all()

    async def save(self, row: RecipientColdkey, change: RecipientColdkeyChange | None) -> None:
        self.session.add(row)
        if change is not None:
            self.session.add(change)
        try:
            await self.session.flush()
        except IntegrityError:
            raise Conflict("A concurrent recipient update won; retry", code="CONCURRENT_UPDATE") from None


class ClaimRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claimed_total(self, hotkey: str) -> int:
        """The hotkey's claimed cumulative amount (the contract's `claimed_cumulative_rao`)."""
        value = await self.session.scalar(
            select(func.max(RewardClaim.amount_units)).where(RewardClaim.hotkey == hotkey)
        )
        return int(value or 0)

    async def for_leaf(self, number: int, hotkey: str) -> RewardClaim | None:
        query = select(RewardClaim).where(RewardClaim.epoch_number == number, RewardClaim.hotkey == hotkey)
        return await self.session.scalar(query)

    async def add(self, claim: RewardClaim) -> None:
        self.session.add(claim)
        try:
            await self.session.flush()
        except IntegrityError:
            raise AlreadyClaimed("already claimed (a concurrent claim won)") from None

    async def page(self, number: int, *, limit: int, offset: int) -> Sequence[RewardClaim]:
        query = (
            select(RewardClaim)
            .where(RewardClaim.epoch_number == number)
            .order_by(RewardClaim.id)
            .limit(limit)
            .offset(offset)
        )
        return (await self.session.scalars(query)).all()

    async def totals(self, number: int) -> tuple[int, int]:
        """(claims, paid units) in epoch `number`."""
        query = select(func.count(), func.coalesce(func.sum(RewardClaim.paid_units), 0)).where(
            RewardClaim.epoch_number == number
        )
        count, paid = (await self.session.execute(query)).one()
        return int(count), int(paid)
