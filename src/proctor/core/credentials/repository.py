"""Queries for miners' inference credentials and default-provider preferences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.models import InferenceCredential, InferencePreference


class CredentialRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _insert(self, table: Any) -> Any:
        # Both dialects spell INSERT … ON CONFLICT the same way; only the constructor differs.
        dialect = self.session.get_bind().dialect.name
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)

    async def get(
        self, hotkey: str, provider: str, *, for_update: bool = False
    ) -> InferenceCredential | None:
        query = (
            select(InferenceCredential)
            .where(InferenceCredential.hotkey == hotkey, InferenceCredential.provider == provider)
            .execution_options(populate_existing=True)
        )
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def for_hotkey(self, hotkey: str) -> Sequence[InferenceCredential]:
        """A miner's credentials, most recently updated first (ties by provider name)."""
        query = (
            select(InferenceCredential)
            .where(InferenceCredential.hotkey == hotkey)
            .order_by(InferenceCredential.updated_at.desc(), InferenceCredential.provider)
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(query)).all()

    async def upsert(
        self, *, hotkey: str, provider: str, ciphertext: bytes, key_id: str, now: datetime
    ) -> None:
        insert = self._insert(InferenceCredential.__table__).values(
            hotkey=hotkey,
            provider=provider,
            ciphertext=ciphertext,
            key_id=key_id,
            created_at=now,
            updated_at=now,
        )
        excluded = insert.excluded
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["hotkey", "provider"],
                set_={"ciphertext": excluded.ciphertext, "key_id": excluded.key_id, "updated_at": now},
            )
        )

    async def replace_ciphertext(
        self, credential: InferenceCredential, *, ciphertext: bytes, key_id: str, now: datetime
    ) -> None:
        credential.ciphertext, credential.key_id, credential.updated_at = ciphertext, key_id, now
        await self.session.flush()

    async def replace_ciphertext_if(
        self, *, hotkey: str, provider: str, expected: bytes, ciphertext: bytes, key_id: str, now: datetime
    ) -> bool:
        """Compare-and-set: replace the stored secret only if it is still `expected`."""
        result = await self.session.execute(
            update(InferenceCredential)
            .where(
                InferenceCredential.hotkey == hotkey,
                InferenceCredential.provider == provider,
                InferenceCredential.ciphertext == expected,
            )
            .values(ciphertext=ciphertext, key_id=key_id, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def page_not_under(
        self, key_id: str, *, after: tuple[str, str] | None, limit: int
    ) -> Sequence[InferenceCredential]:
        """The next `limit` credentials (by hotkey, provider) encrypted under another key than `key_id`."""
        query = select(InferenceCredential).where(InferenceCredential.key_id != key_id)
        if after is not None:
            query = query.where(tuple_(InferenceCredential.hotkey, InferenceCredential.provider) > after)
        query = query.order_by(InferenceCredential.hotkey, InferenceCredential.provider).limit(limit)
        return (await self.session.scalars(query.execution_options(populate_existing=True))).all()

    async def count_by_key(self) -> dict[str, int]:
        """How many credentials each key id encrypts."""
        query = select(InferenceCredential.key_id, func.count()).group_by(InferenceCredential.key_id)
        return {key_id: int(n) for key_id, n in (await self.session.execute(query)).all()}

    async def delete(self, hotkey: str, provider: str) -> bool:
        result = await self.session.execute(
            delete(InferenceCredential).where(
                InferenceCredential.hotkey == hotkey, InferenceCredential.provider == provider
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def default_provider(self, hotkey: str) -> str | None:
        query = select(InferencePreference.default_provider).where(InferencePreference.hotkey == hotkey)
        return await self.session.scalar(query)

    async def set_default(self, hotkey: str, provider: str | None, *, now: datetime) -> None:
        insert = self._insert(InferencePreference.__table__).values(
            hotkey=hotkey, default_provider=provider, updated_at=now
        )
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["hotkey"], set_={"default_provider": provider, "updated_at": now}
            )
        )

    async def set_default_if_unset(self, hotkey: str, provider: str, *, now: datetime) -> None:
        """Make `provider` the default unless the miner already has one (one atomic statement)."""
        insert = self._insert(InferencePreference.__table__).values(
            hotkey=hotkey, default_provider=provider, updated_at=now
        )
        await self.session.execute(
            insert.on_conflict_do_update(
                index_elements=["hotkey"],
                set_={"default_provider": provider, "updated_at": now},
                where=InferencePreference.__table__.c.default_provider.is_(None),
            )
        )
