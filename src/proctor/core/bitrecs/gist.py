"""Reading a miner's gist from GitHub: its metadata, newest commit and raw text.

Where Bitrecs lets any GitHub failure escape as a 500, every failure here is a `GistUnavailable` with a
clear message (the surface answers 400): GitHub refusing (404), rate limiting (403/429), timing out or
sending more than the byte cap. Requests carry hard timeouts, bodies are streamed and cut at the cap,
an optional token raises GitHub's anonymous rate limit, and answers are kept `github_cache_seconds`
(so a miner's /check followed by /submit costs GitHub one round of requests).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from proctor.config import Settings


class GistUnavailable(Exception):
    """The gist could not be read; the message says why, for the miner."""


@dataclass(frozen=True)
class Gist:
    gist_id: str
    account: str
    created_at: datetime
    created_at_text: str  # as Bitrecs' CLI signs it: fromisoformat(...).isoformat() -> "...+00:00"
    commit_sha: str  # the newest commit's `version`
    commit_count: int
    raw: bytes

    @property
    def content_sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def commitment(self) -> str:
        """What the miner commits on chain for this gist: `{commit_sha}:{sha256(raw text)}`."""
        return f"{self.commit_sha}:{self.content_sha256}"


def _parse_created_at(value: Any) -> datetime:
    if not isinstance(value, str):
        raise GistUnavailable("GitHub's gist metadata has no created_at")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GistUnavailable("GitHub's gist metadata has an unreadable created_at") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class GistSource:
    """One per process (kept in `core.caches.extra`); a pooled HTTP client and a short cache."""

    def __init__(self, settings: Settings) -> None:
        self.api_url = settings.github_api_url.rstrip("/")
        self.raw_url = settings.gist_raw_url.rstrip("/")
        self.max_bytes = settings.bitrecs_yaml_max_bytes
        self.ttl = settings.github_cache_seconds
        headers = {"Accept": "application/vnd.github+json", "User-Agent": "proctor-bitrecs"}
        if settings.github_token:
            headers["Authorization"] = f"Bearer {settings.github_token}"
        timeout = httpx.Timeout(
            settings.github_timeout_seconds, connect=min(5.0, settings.github_timeout_seconds)
        )
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout, follow_redirects=True)
        self._cache: dict[tuple[str, str], tuple[float, Gist]] = {}
        self._deadline = settings.github_timeout_seconds

    async def fetch(self, account: str, gist_id: str) -> Gist:
        """The gist's metadata, newest commit and raw text (cached briefly)."""
        key = (account, gist_id)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        if not gist_id.isalnum() or not account.replace("-", "").isalnum():
            raise GistUnavailable("Gist not found: the gist id or GitHub account is malformed")
        try:
            async with asyncio.timeout(self._deadline * 2):
                meta, commits, raw = await asyncio.gather(
                    self._json(f"{self.api_url}/gists/{gist_id}"),
                    self._json(f"{self.api_url}/gists/{gist_id}/commits"),
                    self._bytes(f"{self.raw_url}/{account}/{gist_id}/raw"),
                )
        except TimeoutError:
            raise GistUnavailable("GitHub did not answer in time; try again shortly") from None
        if not isinstance(meta, dict):
            raise GistUnavailable("GitHub's gist metadata is not an object")
        if not isinstance(commits, list) or not commits or not isinstance(commits[0], dict):
            raise GistUnavailable("GitHub lists no commits for this gist")
        sha = commits[0].get("version")
        if not isinstance(sha, str) or not sha:
            raise GistUnavailable("GitHub's newest gist commit has no version")
        created = _parse_created_at(meta.get("created_at"))
        gist = Gist(gist_id, account, created, created.isoformat(), sha, len(commits), raw)
        if len(self._cache) > 1024:
            self._cache.clear()
        self._cache[key] = (time.monotonic(), gist)
        return gist

    async def _json(self, url: str) -> Any:
        import json

        body = await self._bytes(url)
        try:
            return json.loads(body)
        except ValueError:
            raise GistUnavailable("GitHub answered with something that is not JSON") from None

    async def _bytes(self, url: str) -> bytes:
        try:
            async with self._client.stream("GET", url) as response:
                _raise_for(response)
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_bytes:
                    raise GistUnavailable(f"Gist content exceeds the {self.max_bytes} byte limit")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise GistUnavailable(f"Gist content exceeds the {self.max_bytes} byte limit")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise GistUnavailable("GitHub did not answer in time; try again shortly") from None
        except httpx.HTTPError as exc:
            raise GistUnavailable(f"GitHub could not be reached: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


def _raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if status == 200:
        return
    if status == 404:
        raise GistUnavailable("Gist not found on GitHub (check the gist id and GitHub account)")
    if status in (403, 429):
        raise GistUnavailable("GitHub is rate limiting gist requests; try again in a few minutes")
    raise GistUnavailable(f"GitHub refused the gist request (HTTP {status})")


def source_for(caches_extra: dict[str, Any], settings: Settings) -> GistSource:
    """The process's gist source (created on first use, per database/core)."""
    source = caches_extra.get("bitrecs.gists")
    if source is None:
        source = caches_extra["bitrecs.gists"] = GistSource(settings)
    return source  # type: ignore[no-any-return]
