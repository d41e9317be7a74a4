"""Secret key rotation: the keyring, and `proctor admin secret-key rotate` re-encrypting every stored
credential while credentials keep being read (and written) by the server's own code path."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from proctor.app import prepare_database
from proctor.config import Settings
from proctor.core.credentials import service as credential_service
from proctor.core.credentials.crypto import CredentialCipher, CredentialKeyMismatch
from proctor.core.credentials.providers import InferenceGrant, Providers, ValidationResult
from proctor.core.credentials.repository import CredentialRepository
from proctor.storage.base import utcnow
from proctor.storage.blobs import UrlSigner
from proctor.storage.db import create_engine, create_sessionmaker, unit_of_work

OLD = "old-secret-key-" + "a" * 40
NEW = "new-secret-key-" + "b" * 40
ROWS = 120


class EchoAdapter:
    """A provider whose per-run token is the credential itself, so a mint proves what was decrypted."""

    name = "chutes"

    async def validate(self, credential: str) -> ValidationResult:
        return ValidationResult()

    async def mint(self, credential: str, *, ttl_seconds: int) -> InferenceGrant:
        expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        return InferenceGrant(
            provider="chutes", access_token=credential, base_url="http://x", expires_at=expires
        )


def test_keyring_decrypts_old_rows_and_encrypts_under_the_new_key() -> None:
    old, ring, new_only = CredentialCipher(OLD), CredentialCipher(NEW, [OLD]), CredentialCipher(NEW)
    sealed, key_id = old.encrypt("tok", hotkey="h", provider="chutes")
    assert ring.decrypt(sealed, key_id, hotkey="h", provider="chutes") == "tok"
    assert ring.key_ids == (new_only.key_id, old.key_id)
    assert ring.encrypt("tok", hotkey="h", provider="chutes")[1] == new_only.key_id
    with pytest.raises(CredentialKeyMismatch):
        new_only.decrypt(sealed, key_id, hotkey="h", provider="chutes")
    assert OLD not in repr(ring) and NEW not in repr(ring)


def test_blob_links_signed_by_the_old_key_verify_until_it_is_removed() -> None:
    old, ring = UrlSigner(OLD.encode()), UrlSigner(NEW.encode(), previous=[OLD.encode()])
    params = old.get_params("sha256/ab/cd", expires=int(time.time()) + 60, filename=None)
    ring.verify_get("sha256/ab/cd", params)
    assert ring.get_params("sha256/ab/cd", expires=1, filename=None) == UrlSigner(NEW.encode()).get_params(
        "sha256/ab/cd", expires=1, filename=None
    )
    with pytest.raises(Exception, match="signature"):
        UrlSigner(NEW.encode()).verify_get("sha256/ab/cd", params)


@pytest.fixture
def key_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    def build(current: str, previous: list[str] | None = None) -> Settings:
        return make_settings(
            database_url=database_url, secret_key=current, previous_secret_keys=previous or []
        )

    return build


async def seed(settings: Settings, count: int) -> dict[str, str]:
    """`count` miners' chutes credentials under the settings' key; returns hotkey → plaintext."""
    await prepare_database(settings)
    engine = create_engine(settings)
    cipher, expected = CredentialCipher.from_settings(settings), {}
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            repo = CredentialRepository(session)
            for i in range(count):
                hotkey, secret = f"5hk{i:04d}", f"refresh-{i}-{os.urandom(6).hex()}"
                ciphertext, key_id = cipher.encrypt(secret, hotkey=hotkey, provider="chutes")
                await repo.upsert(
                    hotkey=hotkey, provider="chutes", ciphertext=ciphertext, key_id=key_id, now=utcnow()
                )
                expected[hotkey] = secret
    finally:
        await engine.dispose()
    return expected


async def decrypt_all(settings: Settings) -> tuple[dict[str, str], set[str]]:
    engine = create_engine(settings)
    cipher = CredentialCipher.from_settings(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await CredentialRepository(session).page_not_under("", after=None, limit=100_000)
    finally:
        await engine.dispose()
    plain = {
        r.hotkey: cipher.decrypt(r.ciphertext, r.key_id, hotkey=r.hotkey, provider=r.provider) for r in rows
    }
    return plain, {r.key_id for r in rows}


def rotate_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PROCTOR_DATABASE_URL": settings.resolved_database_url,
        "PROCTOR_DATA_DIR": str(settings.data_dir),
        "PROCTOR_REGISTRY": "open",
        "PROCTOR_SECRET_KEY": NEW,
        "PROCTOR_PREVIOUS_SECRET_KEYS": OLD,
        "COLUMNS": "200",
    }


async def run_rotate(settings: Settings, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proctor", "admin", "secret-key", "rotate", *args,
        env=rotate_env(settings), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_rotate_while_credentials_are_read_and_written(
    key_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    expected = await seed(key_settings(OLD), ROWS)
    serving = key_settings(NEW, [OLD])  # the server's keyring during the rotation
    engine = create_engine(serving)
    sessionmaker = create_sessionmaker(engine)
    providers = Providers(serving)
    providers.use("chutes", EchoAdapter())
    minted, wrong, stop = [0], [], asyncio.Event()

    async def reader() -> None:  # claim_work's path: read the row, decrypt it, mint a run token
        while not stop.is_set():
            hotkey = random.choice(list(expected))
            want = expected[hotkey]
            grant = await credential_service.mint_for_run(
                sessionmaker, providers, hotkey=hotkey, settings=serving, ttl_seconds=60
            )
            if grant is None or grant.access_token not in (want, expected[hotkey]):
                wrong.append(hotkey)
            minted[0] += 1
            await asyncio.sleep(0)

    async def writer() -> None:  # miners reconnecting their provider during the rotation
        for i in range(0, ROWS, 7):
            hotkey = f"5hk{i:04d}"
            async with unit_of_work(sessionmaker) as session:
                await credential_service.store(
                    session, hotkey=hotkey, provider="chutes", credential=f"reconnected-{i}",
                    settings=serving, adapter=EchoAdapter(),
                )  # fmt: skip
            expected[hotkey] = f"reconnected-{i}"
            await asyncio.sleep(0.01)

    try:
        tasks = [asyncio.create_task(reader()), asyncio.create_task(writer())]
        code, output = await run_rotate(serving, "--batch-size", "17")
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        await providers.close()
        await engine.dispose()
    assert code == 0, output
    assert minted[0] > 0 and not wrong, f"{len(wrong)} of {minted[0]} reads failed during the rotation"
    for secret in [OLD, NEW, *expected.values()]:
        assert secret not in output  # counts and key ids only
    # The old key removed: everything still decrypts, to what was last stored.
    plain, key_ids = await decrypt_all(key_settings(NEW))
    assert plain == expected
    assert key_ids == {CredentialCipher(NEW).key_id}
    again_code, again = await run_rotate(serving)
    assert again_code == 0 and "0 credentials re-encrypted" in again, again


async def test_rotation_resumes_after_an_interruption(
    key_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = await seed(key_settings(OLD), 50)
    serving = key_settings(NEW, [OLD])
    engine = create_engine(serving)
    sessionmaker = create_sessionmaker(engine)
    cipher = CredentialCipher.from_settings(serving)
    real, calls = CredentialRepository.page_not_under, [0]

    async def crash_on_third(self: CredentialRepository, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise ConnectionError("the operator's shell went away")
        return await real(self, *args, **kwargs)

    try:
        monkeypatch.setattr(CredentialRepository, "page_not_under", crash_on_third)
        with pytest.raises(ConnectionError):
            await credential_service.rotate_secret_key(sessionmaker, cipher=cipher, batch_size=10)
        monkeypatch.setattr(CredentialRepository, "page_not_under", real)
        _, key_ids = await decrypt_all(serving)
        assert len(key_ids) == 2  # half done: both keys in use, and the keyring reads both
        report = await credential_service.rotate_secret_key(sessionmaker, cipher=cipher, batch_size=10)
    finally:
        await engine.dispose()
    assert report.reencrypted == 30 and report.remaining == 0  # the 20 done before the crash stay done
    plain, key_ids = await decrypt_all(key_settings(NEW))
    assert plain == expected and key_ids == {cipher.key_id}


async def test_rows_under_an_unknown_key_are_reported_not_lost(key_settings: Callable[..., Settings]) -> None:
    expected = await seed(key_settings("a-third-key-nobody-configured-" + "c" * 20), 5)
    serving = key_settings(NEW, [OLD])
    code, output = await run_rotate(serving)
    assert code == 1 and "5 credentials under key" in output, output
    plain_count = len(expected)
    assert plain_count == 5 and all(secret not in output for secret in expected.values())
