"""Miners' inference-provider credentials: store (checked with the provider first), status, default
provider, disconnect, and minting a per-run token at claim time (ORO reference §4.3, §4.4).

Secrets are encrypted before they reach the database and never appear in a returned dict, an error
message or a log line. Returned dicts are free-form wire objects; surfaces pass them through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proctor.config import Settings
from proctor.core.credentials.crypto import CredentialCipher, CredentialUndecryptable
from proctor.core.credentials.providers import (
    InferenceGrant,
    ProviderAdapter,
    Providers,
    adapter_for,
    normalize_provider,
)
from proctor.core.credentials.repository import CredentialRepository
from proctor.errors import NotFound, ProctorError, ValidationFailed
from proctor.models import InferenceCredential
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work

log = structlog.get_logger(__name__)

MAX_CREDENTIAL_LENGTH = 4096


class ProviderNotConnected(NotFound):
    code = "PROVIDER_NOT_CONNECTED"
    default_message = "No credential is stored for this inference provider"


def clean_credential(credential: Any) -> str:
    """The credential without surrounding whitespace, or ValidationFailed (never echoing it)."""
    if not isinstance(credential, str):
        raise ValidationFailed("the credential must be a string", code="INVALID_CREDENTIAL")
    value = credential.strip()
    if not value:
        raise ValidationFailed("the credential is empty", code="INVALID_CREDENTIAL")
    if len(value) > MAX_CREDENTIAL_LENGTH:
        raise ValidationFailed(
            f"the credential is longer than {MAX_CREDENTIAL_LENGTH} characters", code="INVALID_CREDENTIAL"
        )
    if not value.isprintable() or any(ch.isspace() for ch in value):
        raise ValidationFailed(
            "the credential contains whitespace or control characters", code="INVALID_CREDENTIAL"
        )
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _status_entry(credential: InferenceCredential) -> dict[str, Any]:
    return {"connected": True, "provider": credential.provider, "updated_at": _iso(credential.updated_at)}


async def store(
    session: AsyncSession,
    *,
    hotkey: str,
    provider: str,
    credential: str,
    settings: Settings,
    adapter: ProviderAdapter | None = None,
) -> dict[str, Any]:
    """Check a credential with its provider, then store it encrypted (overwriting any previous one)."""
    provider = normalize_provider(provider)
    secret = clean_credential(credential)
    checked = await (adapter or adapter_for(provider, settings)).validate(secret)
    # A rotating provider may already have retired the token we were given: keep its successor.
    secret = checked.rotated_credential or secret
    ciphertext, key_id = CredentialCipher.from_settings(settings).encrypt(
        secret, hotkey=hotkey, provider=provider
    )
    repo, now = CredentialRepository(session), utcnow()
    await repo.upsert(hotkey=hotkey, provider=provider, ciphertext=ciphertext, key_id=key_id, now=now)
    default = await _ensure_default(repo, hotkey=hotkey, provider=provider, now=now)
    await session.flush()
    log.info("inference credential stored", hotkey=hotkey, provider=provider, default_provider=default)
    return {"provider": provider, "connected": True, "default_provider": default, "updated_at": _iso(now)}


async def _ensure_default(repo: CredentialRepository, *, hotkey: str, provider: str, now: datetime) -> str:
    """The first stored provider becomes the default; a default that lost its credential is replaced."""
    current = await repo.default_provider(hotkey)
    if current is None:
        await repo.set_default_if_unset(hotkey, provider, now=now)
        current = await repo.default_provider(hotkey)
    elif current != provider and await repo.get(hotkey, current) is None:
        await repo.set_default(hotkey, provider, now=now)
        current = provider
    return current or provider


async def status(session: AsyncSession, *, hotkey: str, provider: str) -> dict[str, Any]:
    """Whether the miner has a credential for one provider."""
    provider = normalize_provider(provider)
    credential = await CredentialRepository(session).get(hotkey, provider)
    if credential is None:
        return {"connected": False, "provider": provider, "updated_at": None}
    return _status_entry(credential)


async def list_status(session: AsyncSession, *, hotkey: str) -> dict[str, Any]:
    """Every connected provider (by name) and the default claim_work mints from."""
    repo = CredentialRepository(session)
    credentials = sorted(await repo.for_hotkey(hotkey), key=lambda c: c.provider)
    return {
        "providers": [_status_entry(c) for c in credentials],
        "default_provider": await repo.default_provider(hotkey),
    }


async def delete(session: AsyncSession, *, hotkey: str, provider: str) -> dict[str, Any]:
    """Disconnect a provider; a deleted default falls back to the most recently updated other one."""
    provider = normalize_provider(provider)
    repo = CredentialRepository(session)
    deleted = await repo.delete(hotkey, provider)
    default = await repo.default_provider(hotkey)
    if default is None or default == provider:
        remaining = await repo.for_hotkey(hotkey)
        fallback = remaining[0].provider if remaining else None
        if fallback != default:
            await repo.set_default(hotkey, fallback, now=utcnow())
        default = fallback
    await session.flush()
    if deleted:
        log.info("inference credential deleted", hotkey=hotkey, provider=provider, default_provider=default)
    return {"provider": provider, "deleted": deleted, "default_provider": default}


async def set_default(session: AsyncSession, *, hotkey: str, provider: str) -> dict[str, Any]:
    """Choose the provider claim_work mints from, from the next claim on."""
    provider = normalize_provider(provider)
    repo = CredentialRepository(session)
    if await repo.get(hotkey, provider) is None:
        raise ProviderNotConnected(f"no {provider} credential is connected; connect it first")
    await repo.set_default(hotkey, provider, now=utcnow())
    await session.flush()
    return {"default_provider": provider}


async def mint_for_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    providers: Providers,
    *,
    hotkey: str,
    settings: Settings,
    ttl_seconds: int,
) -> InferenceGrant | None:
    """A per-run token from the miner's default provider, or None (never raises for provider trouble).

    No database lock or transaction is held while the provider is called: the credential is read in
    one short transaction, the provider is asked with none open, and a refresh token the provider
    rotated is written back in another, only if the stored one is still the one used (a concurrent
    mint or a reconnect that stored a newer one wins). Mints for one miner are serialised in this
    process, so two claims cannot both spend one rotating refresh token here.
    """
    async with providers.lock(hotkey):
        async with sessionmaker() as session:
            credential = await _pick_credential(CredentialRepository(session), hotkey)
        if credential is None:
            return None
        provider = credential.provider
        cipher = CredentialCipher.from_settings(settings)
        try:
            secret = cipher.decrypt(
                credential.ciphertext, credential.key_id, hotkey=hotkey, provider=provider
            )
            grant = await providers.get(provider).mint(secret, ttl_seconds=ttl_seconds)
        except ProctorError as exc:
            log.warning(
                "inference token not minted",
                hotkey=hotkey,
                provider=provider,
                error_code=exc.error_code,
                reason=exc.message,
            )
            return None
        except Exception as exc:  # a claim must never fail because a provider misbehaved
            log.warning(
                "inference token not minted", hotkey=hotkey, provider=provider, error=type(exc).__name__
            )
            return None
        if grant.rotated_credential and grant.rotated_credential != secret:
            ciphertext, key_id = cipher.encrypt(grant.rotated_credential, hotkey=hotkey, provider=provider)
            async with unit_of_work(sessionmaker) as session:
                replaced = await CredentialRepository(session).replace_ciphertext_if(
                    hotkey=hotkey,
                    provider=provider,
                    expected=credential.ciphertext,
                    ciphertext=ciphertext,
                    key_id=key_id,
                    now=utcnow(),
                )
            log.info(
                "inference credential rotated by provider", hotkey=hotkey, provider=provider, stored=replaced
            )
        return dataclasses.replace(grant, rotated_credential=None)


async def _pick_credential(repo: CredentialRepository, hotkey: str) -> InferenceCredential | None:
    """The default provider's credential; without one, the most recently updated credential."""
    default = await repo.default_provider(hotkey)
    if default is not None:
        credential = await repo.get(hotkey, default)
        if credential is not None:
            return credential
    candidates: Sequence[InferenceCredential] = await repo.for_hotkey(hotkey)
    if not candidates:
        return None
    return candidates[0]


# --- secret key rotation ----------------------------------------------------------------------------


@dataclass
class RotationReport:
    """What a rotation did. Counts and key ids only: never a credential."""

    key_id: str  # the current key's id, which every row should end under
    reencrypted: int = 0
    changed_meanwhile: int = 0  # rewritten by a request during the pass (under the current key); re-read
    undecryptable: dict[str, int] = dataclasses.field(default_factory=dict)  # key id → rows no key opens
    by_key: dict[str, int] = dataclasses.field(default_factory=dict)  # rows per key id afterwards

    @property
    def remaining(self) -> int:
        """Rows still not under the current key."""
        return sum(n for key_id, n in self.by_key.items() if key_id != self.key_id)


async def rotate_secret_key(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    cipher: CredentialCipher,
    batch_size: int = 200,
    max_passes: int = 3,
) -> RotationReport:
    """Re-encrypt every stored credential that is not under the cipher's current key.

    Each batch is one short transaction; each row is replaced by compare-and-set on its ciphertext, so a
    credential a miner reconnects (or a provider rotates) meanwhile keeps its newer value. Rows already
    under the current key are never touched: running it again, or after an interruption, only does what
    is left. The server keeps serving throughout, as long as its keyring (PROCTOR_SECRET_KEY plus
    PROCTOR_PREVIOUS_SECRET_KEYS) opens both the old and the new rows.
    """
    report = RotationReport(key_id=cipher.key_id)
    for _ in range(max_passes):
        before = report.reencrypted
        unreadable: dict[str, int] = {}
        after: tuple[str, str] | None = None
        while True:
            async with unit_of_work(sessionmaker) as session:
                repo = CredentialRepository(session)
                rows = await repo.page_not_under(cipher.key_id, after=after, limit=batch_size)
                for row in rows:
                    await _reencrypt(repo, row, cipher, report, unreadable)
            if len(rows) < batch_size:
                break
            after = (rows[-1].hotkey, rows[-1].provider)
        report.undecryptable = unreadable
        if report.reencrypted == before:
            break  # a pass with nothing left to do
    async with sessionmaker() as session:
        report.by_key = await CredentialRepository(session).count_by_key()
    log.info(
        "secret key rotation",
        key_id=report.key_id,
        reencrypted=report.reencrypted,
        remaining=report.remaining,
        undecryptable=sum(report.undecryptable.values()),
    )
    return report


async def _reencrypt(
    repo: CredentialRepository,
    row: InferenceCredential,
    cipher: CredentialCipher,
    report: RotationReport,
    unreadable: dict[str, int],
) -> None:
    try:
        secret = cipher.decrypt(row.ciphertext, row.key_id, hotkey=row.hotkey, provider=row.provider)
    except CredentialUndecryptable:
        unreadable[row.key_id] = unreadable.get(row.key_id, 0) + 1
        return
    ciphertext, key_id = cipher.encrypt(secret, hotkey=row.hotkey, provider=row.provider)
    replaced = await repo.replace_ciphertext_if(
        hotkey=row.hotkey,
        provider=row.provider,
        expected=row.ciphertext,
        ciphertext=ciphertext,
        key_id=key_id,
        now=row.updated_at,  # re-encryption is not an update: the default-provider fallback orders by it
    )
    if replaced:
        report.reencrypted += 1
    else:
        report.changed_meanwhile += 1
