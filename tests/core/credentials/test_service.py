"""The credential service on SQLite and PostgreSQL, with the provider double behind real HTTP."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proctor.config import Settings
from proctor.core.credentials import service as credential_service
from proctor.core.credentials.crypto import CredentialCipher, CredentialUndecryptable
from proctor.core.credentials.providers import CredentialRejected, Providers, ProviderUnavailable
from proctor.errors import NotFound, ProctorError, ValidationFailed
from proctor.models import InferenceCredential, InferencePreference
from proctor.storage.db import unit_of_work
from tests.core.credentials.conftest import OTHER_SECRET_KEY
from tests.support.provider_double import ProviderDouble

Maker = async_sessionmaker[AsyncSession]
BOB = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
CHARLIE = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y"


async def _store(
    maker: Maker, settings: Settings, provider: str, credential: str, **kw: Any
) -> dict[str, Any]:
    async with unit_of_work(maker) as s:
        return await credential_service.store(
            s, hotkey=kw.pop("hotkey", BOB), provider=provider, credential=credential, settings=settings, **kw
        )


async def _list(maker: Maker, hotkey: str = BOB) -> dict[str, Any]:
    async with unit_of_work(maker) as s:
        return await credential_service.list_status(s, hotkey=hotkey)


async def _stored_plaintext(maker: Maker, settings: Settings, provider: str, hotkey: str = BOB) -> str:
    async with unit_of_work(maker) as s:
        row = await s.scalar(
            select(InferenceCredential).where(
                InferenceCredential.hotkey == hotkey, InferenceCredential.provider == provider
            )
        )
    assert row is not None
    return CredentialCipher.from_settings(settings).decrypt(
        row.ciphertext, row.key_id, hotkey=hotkey, provider=provider
    )


async def _mint(maker: Maker, settings: Settings, hotkey: str = BOB) -> Any:
    providers = Providers(settings)
    try:
        return await credential_service.mint_for_run(
            maker, providers, hotkey=hotkey, settings=settings, ttl_seconds=900
        )
    finally:
        await providers.close()


class TestStore:
    async def test_refused_credential_stores_nothing(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        with pytest.raises(CredentialRejected):
            await _store(maker, cred_settings, "chutes", "rt_unknown-token")
        with pytest.raises(CredentialRejected):
            await _store(maker, cred_settings, "openrouter", provider.new_inference_key())
        provider.state.fail_status = 500
        with pytest.raises(ProviderUnavailable):
            await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        assert await _list(maker) == {"providers": [], "default_provider": None}
        async with unit_of_work(maker) as s:
            assert (await s.scalars(select(InferenceCredential))).all() == []
            assert (await s.scalars(select(InferencePreference))).all() == []

    @pytest.mark.parametrize("credential", ["", "   ", "rt_a b", "rt_\x00x", "x" * 4097, None, 12])
    async def test_malformed_credential_never_reaches_the_provider(
        self, credential: Any, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        with pytest.raises(ValidationFailed) as info:
            await _store(maker, cred_settings, "chutes", credential)
        assert info.value.error_code == "INVALID_CREDENTIAL"
        assert provider.state.requests == []

    async def test_unknown_provider(self, maker: Maker, cred_settings: Settings) -> None:
        with pytest.raises(ValidationFailed) as info:
            await _store(maker, cred_settings, "together", "tok_abc")
        assert info.value.error_code == "UNKNOWN_PROVIDER"

    async def test_first_provider_becomes_default_second_does_not(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        first = await _store(maker, cred_settings, "chutes", "  " + provider.new_refresh_token() + "\n")
        assert first["provider"] == "chutes" and first["connected"] is True
        assert first["default_provider"] == "chutes"
        datetime.fromisoformat(first["updated_at"])
        second = await _store(maker, cred_settings, "OpenRouter", provider.new_management_key())
        assert (second["provider"], second["default_provider"]) == ("openrouter", "chutes")
        assert set(second) == {"provider", "connected", "default_provider", "updated_at"}
        # Another miner's first provider is its own default.
        other = await _store(
            maker, cred_settings, "openrouter", provider.new_management_key(), hotkey=CHARLIE
        )
        assert other["default_provider"] == "openrouter"

    async def test_overwrite_updates_the_row(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        old, new = provider.new_refresh_token(), provider.new_refresh_token()
        await _store(maker, cred_settings, "chutes", old)
        async with unit_of_work(maker) as s:
            before = await s.scalar(select(InferenceCredential))
        assert before is not None
        await _store(maker, cred_settings, "chutes", new)
        async with unit_of_work(maker) as s:
            rows = (await s.scalars(select(InferenceCredential))).all()
        assert len(rows) == 1
        assert rows[0].created_at == before.created_at and rows[0].updated_at > before.updated_at
        assert await _stored_plaintext(maker, cred_settings, "chutes") == new

    async def test_ciphertext_at_rest(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        token = provider.new_refresh_token()
        await _store(maker, cred_settings, "chutes", token)
        async with unit_of_work(maker) as s:
            ciphertext, key_id = (
                await s.execute(select(InferenceCredential.ciphertext, InferenceCredential.key_id))
            ).one()
        assert isinstance(ciphertext, bytes) and ciphertext != token.encode()
        assert token.encode() not in ciphertext and token[3:15].encode() not in ciphertext
        assert key_id == CredentialCipher.from_settings(cred_settings).key_id

    async def test_rotated_on_validation_stores_the_successor(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        provider.state.rotate_refresh_tokens = True
        given = provider.new_refresh_token()
        await _store(maker, cred_settings, "chutes", given)
        stored = await _stored_plaintext(maker, cred_settings, "chutes")
        assert stored != given and stored in provider.state.refresh_tokens


class TestStatus:
    async def test_one_provider(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        stored = await _store(maker, cred_settings, "openrouter", provider.new_management_key())
        async with unit_of_work(maker) as s:
            connected = await credential_service.status(s, hotkey=BOB, provider="openrouter")
            missing = await credential_service.status(s, hotkey=BOB, provider="chutes")
            with pytest.raises(ValidationFailed):
                await credential_service.status(s, hotkey=BOB, provider="nope")
        assert connected == {"connected": True, "provider": "openrouter", "updated_at": stored["updated_at"]}
        assert missing == {"connected": False, "provider": "chutes", "updated_at": None}


class TestListStatus:
    async def test_lists_connected_providers(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        b = await _store(maker, cred_settings, "openrouter", provider.new_management_key())
        a = await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        listing = await _list(maker)
        assert listing == {
            "providers": [
                {"connected": True, "provider": "chutes", "updated_at": a["updated_at"]},
                {"connected": True, "provider": "openrouter", "updated_at": b["updated_at"]},
            ],
            "default_provider": "openrouter",
        }
        json.dumps(listing)
        assert await _list(maker, CHARLIE) == {"providers": [], "default_provider": None}


class TestDelete:
    async def _connect_both(self, maker: Maker, settings: Settings, provider: ProviderDouble) -> None:
        await _store(maker, settings, "chutes", provider.new_refresh_token())
        await _store(maker, settings, "openrouter", provider.new_management_key())

    async def test_deleting_the_default_falls_back_then_clears(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await self._connect_both(maker, cred_settings, provider)
        async with unit_of_work(maker) as s:
            result = await credential_service.delete(s, hotkey=BOB, provider="chutes")
        assert result == {"provider": "chutes", "deleted": True, "default_provider": "openrouter"}
        assert (await _list(maker))["default_provider"] == "openrouter"
        async with unit_of_work(maker) as s:
            result = await credential_service.delete(s, hotkey=BOB, provider="openrouter")
        assert result == {"provider": "openrouter", "deleted": True, "default_provider": None}
        assert await _list(maker) == {"providers": [], "default_provider": None}

    async def test_fallback_is_the_most_recently_updated(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await self._connect_both(maker, cred_settings, provider)
        await _store(maker, cred_settings, "chutes", provider.new_refresh_token())  # chutes now newest
        async with unit_of_work(maker) as s:
            await credential_service.set_default(s, hotkey=BOB, provider="openrouter")
        async with unit_of_work(maker) as s:
            result = await credential_service.delete(s, hotkey=BOB, provider="openrouter")
        assert result["default_provider"] == "chutes"

    async def test_deleting_another_provider_keeps_the_default(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await self._connect_both(maker, cred_settings, provider)
        async with unit_of_work(maker) as s:
            result = await credential_service.delete(s, hotkey=BOB, provider="openrouter")
            again = await credential_service.delete(s, hotkey=BOB, provider="openrouter")
        assert result == {"provider": "openrouter", "deleted": True, "default_provider": "chutes"}
        assert again == {"provider": "openrouter", "deleted": False, "default_provider": "chutes"}


class TestSetDefault:
    async def test_needs_a_connected_provider(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        async with unit_of_work(maker) as s:
            with pytest.raises(NotFound) as info:
                await credential_service.set_default(s, hotkey=BOB, provider="openrouter")
            with pytest.raises(ValidationFailed):
                await credential_service.set_default(s, hotkey=BOB, provider="other")
        assert info.value.error_code == "PROVIDER_NOT_CONNECTED" and info.value.status == 404
        await _store(maker, cred_settings, "openrouter", provider.new_management_key())
        async with unit_of_work(maker) as s:
            assert await credential_service.set_default(s, hotkey=BOB, provider="openrouter") == {
                "default_provider": "openrouter"
            }
        assert (await _list(maker))["default_provider"] == "openrouter"


class TestMintForClaim:
    async def test_grant_from_the_default_provider(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        await _store(maker, cred_settings, "openrouter", provider.new_management_key())
        grant = await _mint(maker, cred_settings)
        assert grant is not None and grant.provider == "chutes"
        assert grant.access_token == provider.state.issued_access_tokens[-1]
        assert grant.rotated_credential is None
        async with unit_of_work(maker) as s:
            await credential_service.set_default(s, hotkey=BOB, provider="openrouter")
        grant = await _mint(maker, cred_settings)
        assert grant is not None and grant.provider == "openrouter"
        assert grant.access_token == provider.state.created_keys[-1]["key"]

    async def test_without_a_default_uses_the_connected_one(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await _store(maker, cred_settings, "openrouter", provider.new_management_key())
        async with unit_of_work(maker) as s:
            await s.execute(update(InferencePreference).values(default_provider=None))
        grant = await _mint(maker, cred_settings)
        assert grant is not None and grant.provider == "openrouter"

    async def test_none_without_credentials(self, maker: Maker, cred_settings: Settings) -> None:
        assert await _mint(maker, cred_settings) is None

    async def test_none_when_the_provider_fails(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        provider.state.fail_status = 500
        with structlog.testing.capture_logs() as logs:
            assert await _mint(maker, cred_settings) is None
        assert any(e["event"] == "inference token not minted" and e["log_level"] == "warning" for e in logs)
        provider.state.fail_status = 401
        assert await _mint(maker, cred_settings) is None
        provider.state.fail_status = None
        assert await _mint(maker, cred_settings) is not None

    async def test_rotation_is_stored(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        provider.state.rotate_refresh_tokens = True
        await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        for _ in range(3):  # each exchange retires the stored token: only storing successors keeps it alive
            before = await _stored_plaintext(maker, cred_settings, "chutes")
            grant = await _mint(maker, cred_settings)
            assert grant is not None and grant.rotated_credential is None
            after = await _stored_plaintext(maker, cred_settings, "chutes")
            assert after != before and after in provider.state.refresh_tokens
            assert before not in provider.state.refresh_tokens

    async def test_another_secret_key_yields_none(
        self,
        maker: Maker,
        cred_settings: Settings,
        provider: ProviderDouble,
        provider_settings: Callable[..., Settings],
    ) -> None:
        await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        rotated_key = provider_settings(database_url=cred_settings.database_url, secret_key=OTHER_SECRET_KEY)
        with structlog.testing.capture_logs() as logs:
            assert await _mint(maker, rotated_key) is None
        (event,) = [e for e in logs if e["event"] == "inference token not minted"]
        assert event["error_code"] == "CREDENTIAL_KEY_MISMATCH" and "PROCTOR_SECRET_KEY" in event["reason"]

    async def test_row_moved_to_another_miner_does_not_decrypt(
        self, maker: Maker, cred_settings: Settings, provider: ProviderDouble
    ) -> None:
        await _store(maker, cred_settings, "chutes", provider.new_refresh_token())
        async with unit_of_work(maker) as s:
            await s.execute(update(InferenceCredential).values(hotkey=CHARLIE))
            await s.execute(update(InferencePreference).values(hotkey=CHARLIE))
        with structlog.testing.capture_logs() as logs:
            assert await _mint(maker, cred_settings, CHARLIE) is None
        assert [e["error_code"] for e in logs if e["event"] == "inference token not minted"] == [
            "CREDENTIAL_UNDECRYPTABLE"
        ]
        with pytest.raises(CredentialUndecryptable):
            await _stored_plaintext(maker, cred_settings, "chutes", CHARLIE)


class TestNoSecretLeak:
    async def test_secrets_never_reach_results_errors_or_logs(
        self,
        maker: Maker,
        cred_settings: Settings,
        provider: ProviderDouble,
        provider_settings: Callable[..., Settings],
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        caplog.set_level(logging.DEBUG)
        provider.state.rotate_refresh_tokens = True
        refresh, management = provider.new_refresh_token(), provider.new_management_key()
        refused, inference_key = "rt_refused-" + "z" * 20, provider.new_inference_key()
        outputs: list[Any] = []
        errors: list[ProctorError] = []

        async def attempt(call: Any) -> None:
            try:
                outputs.append(await call)
            except ProctorError as exc:
                errors.append(exc)

        with structlog.testing.capture_logs() as logs:
            # A fresh proxy binds to the capturing configuration even if the module's was cached.
            monkeypatch.setattr(credential_service, "log", structlog.get_logger(credential_service.__name__))
            outputs.append(await _store(maker, cred_settings, "chutes", refresh))
            outputs.append(await _store(maker, cred_settings, "openrouter", management))
            await attempt(_store(maker, cred_settings, "chutes", refused))
            await attempt(_store(maker, cred_settings, "openrouter", inference_key))
            await attempt(_store(maker, cred_settings, "chutes", "rt_leaky\tsecretpart-123456"))
            grant = await _mint(maker, cred_settings)
            provider.state.fail_status = 500
            await attempt(_store(maker, cred_settings, "chutes", provider.new_refresh_token()))
            outputs.append(await _mint(maker, cred_settings))
            provider.state.fail_status = None
            other_key = provider_settings(
                database_url=cred_settings.database_url, secret_key=OTHER_SECRET_KEY
            )
            outputs.append(await _mint(maker, other_key))
            async with unit_of_work(maker) as s:
                outputs.append(await credential_service.list_status(s, hotkey=BOB))
                outputs.append(await credential_service.status(s, hotkey=BOB, provider="chutes"))
                outputs.append(await credential_service.set_default(s, hotkey=BOB, provider="openrouter"))
                outputs.append(await credential_service.delete(s, hotkey=BOB, provider="chutes"))
            rotated = set(provider.state.refresh_tokens)

        assert grant is not None and len(errors) == 4
        secrets = {refresh, management, refused, inference_key, "rt_leaky", "secretpart-123456", *rotated}
        secrets |= set(provider.state.issued_access_tokens)
        captured = capsys.readouterr()
        haystack = "\n".join(
            [
                json.dumps(outputs, default=repr),
                repr(grant),
                *(f"{e!s} {e!r} {e.message} {e.extra}" for e in errors),
                json.dumps(logs, default=repr),
                caplog.text,
                captured.out,
                captured.err,
            ]
        )
        assert logs and caplog.records  # the scan looked at real log output
        for secret in secrets:
            assert secret not in haystack
