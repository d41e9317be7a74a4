"""Provider adapters against the local provider double, over real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from proctor.config import Settings
from proctor.core.credentials.providers import (
    ADAPTERS,
    ChutesAdapter,
    CredentialRejected,
    OpenRouterAdapter,
    ProviderAdapter,
    ProviderUnavailable,
    adapter_for,
    normalize_provider,
)
from proctor.errors import Unavailable, ValidationFailed
from tests.support.provider_double import CHUTES_CLIENT_ID, ProviderDouble

SettingsFactory = Callable[..., Settings]


class TestRegistry:
    def test_known_providers(self, provider_settings: SettingsFactory) -> None:
        settings = provider_settings()
        assert sorted(ADAPTERS) == ["chutes", "openrouter"]
        assert isinstance(adapter_for("chutes", settings), ChutesAdapter)
        assert isinstance(adapter_for(" OpenRouter ", settings), OpenRouterAdapter)
        assert isinstance(adapter_for("chutes", settings), ProviderAdapter)
        assert normalize_provider("CHUTES") == "chutes"

    def test_unknown_provider(self, provider_settings: SettingsFactory) -> None:
        with pytest.raises(ValidationFailed) as info:
            adapter_for("anthropic", provider_settings())
        assert info.value.error_code == "UNKNOWN_PROVIDER"
        assert "chutes" in info.value.message and "openrouter" in info.value.message
        assert info.value.extra["providers"] == ["chutes", "openrouter"]


class TestChutes:
    async def test_validate_exchanges_the_refresh_token(
        self, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        token = provider.new_refresh_token()
        result = await adapter_for("chutes", provider_settings()).validate(token)
        assert result.rotated_credential is None
        (request,) = provider.state.requests
        assert request.path == "/idp/token"
        assert request.form() == {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": CHUTES_CLIENT_ID,
        }

    async def test_refused_token_is_rejected_without_echo(
        self, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        bad = "rt_not-a-real-refresh-token"
        with pytest.raises(CredentialRejected) as info:
            await adapter_for("chutes", provider_settings()).validate(bad)
        assert isinstance(info.value, ValidationFailed) and info.value.error_code == "CREDENTIAL_REJECTED"
        assert "invalid_grant" in info.value.message
        assert bad not in str(info.value) and bad not in repr(info.value)

    @pytest.mark.parametrize("status", [401, 403])
    async def test_unauthorized_is_rejected(
        self, status: int, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        provider.state.fail_status = status
        with pytest.raises(CredentialRejected):
            await adapter_for("chutes", provider_settings()).validate(provider.new_refresh_token())

    @pytest.mark.parametrize("status", [500, 502, 429, 404])
    async def test_server_errors_are_unavailable(
        self, status: int, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        provider.state.fail_status = status
        with pytest.raises(ProviderUnavailable) as info:
            await adapter_for("chutes", provider_settings()).validate(provider.new_refresh_token())
        assert isinstance(info.value, Unavailable) and info.value.status == 503
        assert str(status) in info.value.message

    async def test_down_and_slow_are_unavailable(
        self, provider: ProviderDouble, provider_settings: SettingsFactory, dead_url: str
    ) -> None:
        token = provider.new_refresh_token()
        with pytest.raises(ProviderUnavailable, match="could not be reached"):
            await adapter_for("chutes", provider_settings(chutes_api_url=dead_url)).validate(token)
        provider.state.delay_seconds = 1.0
        with pytest.raises(ProviderUnavailable, match="did not answer"):
            await adapter_for("chutes", provider_settings(provider_timeout_seconds=0.2)).validate(token)

    async def test_reply_without_access_token_is_unavailable(
        self, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        provider.state.omit_access_token = True
        with pytest.raises(ProviderUnavailable, match="without an access token"):
            await adapter_for("chutes", provider_settings()).validate(provider.new_refresh_token())

    async def test_mint_returns_access_token_capped_by_ttl(
        self, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        token, adapter = provider.new_refresh_token(), adapter_for("chutes", provider_settings())
        before = datetime.now(UTC)
        grant = await adapter.mint(token, ttl_seconds=600)
        assert grant.provider == "chutes" and grant.base_url == provider.base_url + "/chutes/v1"
        assert grant.access_token == provider.state.issued_access_tokens[-1]
        assert (
            before + timedelta(seconds=599) <= grant.expires_at <= datetime.now(UTC) + timedelta(seconds=600)
        )
        provider.state.expires_in = 60  # the provider's own lifetime is shorter than the ttl
        grant = await adapter.mint(token, ttl_seconds=600)
        assert grant.expires_at <= datetime.now(UTC) + timedelta(seconds=60)
        assert grant.access_token not in repr(grant)
        assert grant.to_wire() == {
            "provider": "chutes",
            "access_token": grant.access_token,
            "base_url": grant.base_url,
            "expires_at": grant.expires_at.isoformat(),
        }

    async def test_rotation_is_reported(
        self, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        provider.state.rotate_refresh_tokens = True
        adapter, first = adapter_for("chutes", provider_settings()), provider.new_refresh_token()
        checked = await adapter.validate(first)
        second = checked.rotated_credential
        assert second and second != first and second in provider.state.refresh_tokens
        assert second not in repr(checked)
        grant = await adapter.mint(second, ttl_seconds=60)
        assert grant.rotated_credential and grant.rotated_credential != second
        with pytest.raises(CredentialRejected):
            await adapter.mint(first, ttl_seconds=60)


class TestOpenRouter:
    async def test_validate_needs_a_management_key(
        self, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        adapter = adapter_for("openrouter", provider_settings())
        management = provider.new_management_key()
        assert (await adapter.validate(management)).rotated_credential is None
        request = provider.state.requests[-1]
        assert (request.method, request.path) == ("GET", "/api/v1/keys")
        assert request.headers["authorization"] == f"Bearer {management}"
        for refused in (provider.new_inference_key(), "sk-or-v1-unknown"):
            with pytest.raises(CredentialRejected, match="Management API key") as info:
                await adapter.validate(refused)
            assert refused not in str(info.value)

    async def test_validate_unavailable(
        self, provider: ProviderDouble, provider_settings: SettingsFactory, dead_url: str
    ) -> None:
        key = provider.new_management_key()
        provider.state.fail_status = 503
        with pytest.raises(ProviderUnavailable):
            await adapter_for("openrouter", provider_settings()).validate(key)
        with pytest.raises(ProviderUnavailable):
            await adapter_for("openrouter", provider_settings(openrouter_api_url=dead_url)).validate(key)

    async def test_mint_creates_a_limited_expiring_key(
        self, provider: ProviderDouble, provider_settings: SettingsFactory
    ) -> None:
        management = provider.new_management_key()
        grant = await adapter_for("openrouter", provider_settings()).mint(management, ttl_seconds=900)
        (created,) = provider.state.created_keys
        assert grant.access_token == created["key"] != management
        assert grant.provider == "openrouter" and grant.base_url == provider.openrouter_api_url
        body = created["request"]
        assert body["name"].startswith("proctor-run-") and body["limit"] == 0.5
        assert datetime.fromisoformat(body["expires_at"]) == grant.expires_at
        assert body["expires_at"].endswith("Z")
        assert timedelta(seconds=895) < grant.expires_at - datetime.now(UTC) <= timedelta(seconds=900)

    async def test_mint_refusals(self, provider: ProviderDouble, provider_settings: SettingsFactory) -> None:
        adapter = adapter_for("openrouter", provider_settings())
        with pytest.raises(CredentialRejected):
            await adapter.mint(provider.new_inference_key(), ttl_seconds=60)
        provider.state.fail_status = 402
        with pytest.raises(CredentialRejected, match="credits"):
            await adapter.mint(provider.new_management_key(), ttl_seconds=60)
        provider.state.fail_status = 500
        with pytest.raises(ProviderUnavailable):
            await adapter.mint(provider.new_management_key(), ttl_seconds=60)
