"""Inference-provider adapters: check a miner's credential and mint a per-run token from it.

- chutes: the credential is an OAuth refresh token (the `oro inference connect chutes` flow). Checking
  and minting both exchange it at `{chutes_api_url}/idp/token`; the access token is the per-run grant.
  When the server rotates the refresh token, the new one comes back as `rotated_credential`, and the
  caller must store it (the old one may already be dead).
- openrouter: the credential is a Management API key. Checking lists the account's keys (only a
  management key may); minting creates a fresh key with a credit limit and an expiry for one run.

Adapters never put a credential or a token into an exception message or a repr.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx

from proctor.config import Settings
from proctor.errors import Unavailable, ValidationFailed


class CredentialRejected(ValidationFailed):
    code = "CREDENTIAL_REJECTED"
    default_message = "The inference provider rejected this credential"


class ProviderUnavailable(Unavailable):
    code = "PROVIDER_UNAVAILABLE"
    default_message = "The inference provider could not be reached; try again later"


@dataclass(frozen=True)
class ValidationResult:
    """What a successful check learned: a replacement credential when the provider rotated it."""

    rotated_credential: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class InferenceGrant:
    """A per-run token a validator presents at `base_url` (ORO's `InferenceTokenGrant`)."""

    provider: str
    access_token: str = field(repr=False)
    base_url: str
    expires_at: datetime
    rotated_credential: str | None = field(default=None, repr=False, compare=False)

    def to_wire(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "access_token": self.access_token,
            "base_url": self.base_url,
            "expires_at": self.expires_at.isoformat(),
        }


@runtime_checkable
class ProviderAdapter(Protocol):
    @property
    def name(self) -> str:
        """The provider name claims and the wire use ("chutes", "openrouter")."""
        ...

    async def validate(self, credential: str) -> ValidationResult:
        """Return normally if the provider accepts the credential; raise CredentialRejected otherwise."""
        ...

    async def mint(self, credential: str, *, ttl_seconds: int) -> InferenceGrant:
        """A token for one evaluation run, usable for at most `ttl_seconds`."""
        ...


_SAFE_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


async def _send(
    provider: str,
    method: str,
    url: str,
    *,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None,
    client: httpx.AsyncClient | None = None,
    **kwargs: Any,
) -> httpx.Response:
    # `from None` everywhere: a chained transport error could carry request details into a traceback.
    try:
        if client is not None:  # the process's client for this provider: connections are reused
            return await client.request(method, url, timeout=timeout, **kwargs)
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as one_off:
            return await one_off.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise ProviderUnavailable(f"{provider} did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"{provider} could not be reached ({type(exc).__name__})") from None


def _json_object(provider: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderUnavailable(f"{provider} sent an unexpected reply (HTTP {response.status_code})")
    return body


def _unexpected(provider: str, response: httpx.Response) -> ProviderUnavailable:
    return ProviderUnavailable(f"{provider} answered HTTP {response.status_code}; try again later")


def _oauth_error(response: httpx.Response) -> str:
    """The standard OAuth `error` code of a refusal, when it is a plain token (never free text)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return f" ({error})" if isinstance(error, str) and _SAFE_ERROR_CODE.match(error) else ""


def _nonempty_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


class ChutesAdapter:
    name: ClassVar[str] = "chutes"

    def __init__(
        self,
        *,
        api_url: str,
        inference_url: str,
        client_id: str,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.token_url = api_url.rstrip("/") + "/idp/token"
        self.inference_url = inference_url.rstrip("/")
        self.client_id = client_id
        self.timeout = timeout
        self.transport = transport
        self.client = client

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> ChutesAdapter:
        return cls(
            api_url=settings.chutes_api_url,
            inference_url=settings.chutes_inference_url,
            client_id=settings.chutes_client_id,
            timeout=settings.provider_timeout_seconds,
            transport=transport,
            client=client,
        )

    async def validate(self, credential: str) -> ValidationResult:
        """Exchange the refresh token once; a usable access token proves it."""
        _access, _lifetime, rotated = await self._exchange(credential)
        return ValidationResult(rotated_credential=rotated)

    async def mint(self, credential: str, *, ttl_seconds: int) -> InferenceGrant:
        """A fresh access token; its expiry is the provider's, capped at `ttl_seconds`."""
        access, lifetime, rotated = await self._exchange(credential)
        seconds = min(ttl_seconds, lifetime) if lifetime is not None else ttl_seconds
        return InferenceGrant(
            provider=self.name,
            access_token=access,
            base_url=self.inference_url,
            expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
            rotated_credential=rotated,
        )

    async def _exchange(self, refresh_token: str) -> tuple[str, int | None, str | None]:
        """(access token, lifetime in seconds if given, rotated refresh token if any)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id}
        response = await _send(
            self.name,
            "POST",
            self.token_url,
            timeout=self.timeout,
            transport=self.transport,
            client=self.client,
            data=form,
            headers={"Accept": "application/json"},
        )
        if response.status_code in (400, 401, 403):
            raise CredentialRejected(
                "Chutes refused the refresh token" + _oauth_error(response) + "; run `oro inference connect "
                "chutes` again"
            )
        if response.status_code != 200:
            raise _unexpected(self.name, response)
        body = _json_object(self.name, response)
        access = _nonempty_str(body.get("access_token"))
        if access is None:
            raise ProviderUnavailable("Chutes answered without an access token")
        expires_in = body.get("expires_in")
        lifetime = int(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else None
        rotated = _nonempty_str(body.get("refresh_token"))
        return access, lifetime, (rotated if rotated != refresh_token else None)


class OpenRouterAdapter:
    name: ClassVar[str] = "openrouter"

    def __init__(
        self,
        *,
        api_url: str,
        credit_limit: float,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.credit_limit = credit_limit
        self.timeout = timeout
        self.transport = transport
        self.client = client

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> OpenRouterAdapter:
        return cls(
            api_url=settings.openrouter_api_url,
            credit_limit=settings.openrouter_run_credit_limit,
            timeout=settings.provider_timeout_seconds,
            transport=transport,
            client=client,
        )

    def _auth(self, credential: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential}", "Accept": "application/json"}

    async def validate(self, credential: str) -> ValidationResult:
        """Listing keys needs a Management API key: an ordinary inference key is refused here."""
        response = await _send(
            self.name,
            "GET",
            self.api_url + "/keys",
            timeout=self.timeout,
            transport=self.transport,
            client=self.client,
            headers=self._auth(credential),
        )
        if response.status_code in (401, 403):
            raise CredentialRejected(
                "OpenRouter refused the key; a Management API key (sk-or-v1-…, from the Management "
                "Keys page) is required"
            )
        if response.status_code != 200:
            raise _unexpected(self.name, response)
        return ValidationResult()

    async def mint(self, credential: str, *, ttl_seconds: int) -> InferenceGrant:
        """Create a per-run key with a credit limit that expires after `ttl_seconds`."""
        expires_at = (datetime.now(UTC) + timedelta(seconds=ttl_seconds)).replace(microsecond=0)
        stamp = expires_at.strftime("%Y%m%dT%H%M%SZ")
        payload = {
            "name": f"proctor-run-{stamp}-{secrets.token_hex(4)}",
            "limit": self.credit_limit,
            "expires_at": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        response = await _send(
            self.name,
            "POST",
            self.api_url + "/keys",
            timeout=self.timeout,
            transport=self.transport,
            client=self.client,
            headers=self._auth(credential),
            json=payload,
        )
        if response.status_code in (401, 402, 403):
            reason = "has too few credits" if response.status_code == 402 else "refused the key"
            raise CredentialRejected(f"OpenRouter {reason} (HTTP {response.status_code})")
        if response.status_code not in (200, 201):
            raise _unexpected(self.name, response)
        key = _nonempty_str(_json_object(self.name, response).get("key"))
        if key is None:
            raise ProviderUnavailable("OpenRouter answered without a key")
        return InferenceGrant(
            provider=self.name, access_token=key, base_url=self.api_url, expires_at=expires_at
        )


class AdapterFactory(Protocol):
    def __call__(self, settings: Settings, *, client: httpx.AsyncClient | None = None) -> ProviderAdapter: ...


ADAPTERS: dict[str, AdapterFactory] = {
    ChutesAdapter.name: ChutesAdapter.from_settings,
    OpenRouterAdapter.name: OpenRouterAdapter.from_settings,
}


def normalize_provider(name: str) -> str:
    """The canonical provider name, or ValidationFailed(UNKNOWN_PROVIDER)."""
    key = name.strip().lower() if isinstance(name, str) else ""
    if key not in ADAPTERS:
        known = ", ".join(sorted(ADAPTERS))
        shown = name[:40] if isinstance(name, str) else type(name).__name__
        raise ValidationFailed(
            f"unknown inference provider {shown!r}; known providers: {known}",
            code="UNKNOWN_PROVIDER",
            providers=sorted(ADAPTERS),
        )
    return key


def adapter_for(name: str, settings: Settings) -> ProviderAdapter:
    """The adapter for a provider name, configured from the settings."""
    return ADAPTERS[normalize_provider(name)](settings)


class Providers:
    """The process's provider adapters, one HTTP client each, for its whole lifetime.

    A client per call costs a TCP (and TLS) handshake on every claim that mints a token; one shared
    client keeps connections alive. Built by `build_core`, closed with it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._adapters: dict[str, ProviderAdapter] = {}
        self._clients: list[httpx.AsyncClient] = []
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, hotkey: str) -> asyncio.Lock:
        """Serialises one miner's mints in this process (a rotating refresh token is spent once)."""
        found = self._locks.get(hotkey)
        if found is None:
            if len(self._locks) > 10_000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            found = self._locks[hotkey] = asyncio.Lock()
        return found

    def use(self, name: str, adapter: ProviderAdapter) -> None:
        """Put a given adapter in place of the configured one (tests, local stand-ins)."""
        self._adapters[normalize_provider(name)] = adapter

    def get(self, name: str) -> ProviderAdapter:
        key = normalize_provider(name)
        adapter = self._adapters.get(key)
        if adapter is None:
            client = httpx.AsyncClient(
                timeout=self.settings.provider_timeout_seconds,
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            )
            self._clients.append(client)
            adapter = self._adapters[key] = ADAPTERS[key](self.settings, client=client)
        return adapter

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        self._adapters.clear()
