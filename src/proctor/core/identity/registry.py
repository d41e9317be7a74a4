"""Who is a registered miner, who holds a validator permit and stake, who is banned.

A *source* says what the network says (a file the operator keeps, the live chain, or "open" for local
play). Operator grants and bans in the database are merged over it. The merged view is a snapshot held
in memory and refreshed every `registry_refresh_seconds` (bans reach every replica within that time);
lookups are O(1) on the request path. A snapshot that cannot be refreshed for longer than
`registry_max_age_seconds` -- or a source that cannot be read at all -- fails closed: nobody counts as
registered.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog
import yaml

from proctor.auth.verifier import is_valid_ss58

log = structlog.get_logger(__name__)


class RegistryError(Exception):
    """The registry source could not be read or is malformed."""


@dataclass(frozen=True)
class Neuron:
    hotkey: str
    uid: int | None = None
    validator_permit: bool = False
    stake: float = 0.0
    commitment: str | None = None  # the hotkey's latest revealed chain commitment (Bitrecs' gist pin)


@dataclass(frozen=True)
class Identity:
    """Everything authorization needs to know about one hotkey, at one moment."""

    hotkey: str
    registered: bool
    uid: int | None = None
    validator_permit: bool = False
    stake: float = 0.0
    banned: bool = False
    ban_reason: str = ""
    fresh: bool = True  # False when the answer comes from a failed-closed (stale) registry


@dataclass(frozen=True)
class SourceView:
    """What a registry source reports."""

    neurons: Mapping[str, Neuron]
    netuid: int | None = None
    open: bool = False
    block: int | None = None  # the chain's block at the read (chain source only)
    block_at: float | None = None  # wall-clock (Unix) time of that read


@dataclass(frozen=True)
class Overrides:
    """Operator facts from the database."""

    grants: Mapping[str, Neuron] = field(default_factory=dict)
    bans: Mapping[str, str] = field(default_factory=dict)


class RegistrySource(Protocol):
    name: str

    async def load(self) -> SourceView | None:
        """Return a new view, or None when nothing changed since the last load; raise RegistryError."""
        ...


class OpenSource:
    """Local play: any valid key is a registered miner; validators still need an operator grant."""

    name = "open"

    def __init__(self) -> None:
        self._loaded = False

    async def load(self) -> SourceView | None:
        if self._loaded:
            return None
        self._loaded = True
        return SourceView(neurons={}, open=True)


class FileSource:
    """A YAML/JSON file `{netuid, neurons: [{hotkey, uid, validator_permit, stake}]}`, re-read on change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"file:{path}"
        self._stamp: tuple[int, int, int] | None = None

    async def load(self) -> SourceView | None:
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            self._stamp = None
            raise RegistryError(f"cannot read registry file {self.path}: {exc.strerror}") from exc
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp == self._stamp:
            return None
        text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        view = parse_registry_document(text, suffix=self.path.suffix.lower())
        self._stamp = stamp
        return view


class ChainSource:
    """The live metagraph through the `bittensor` SDK (install `proctor[chain]`)."""

    def __init__(self, network: str, netuid: int, min_interval: float = 300.0) -> None:
        self.name = f"chain:{network}/{netuid}"
        self.network = network
        self.netuid = netuid
        self.min_interval = min_interval
        self._last = 0.0
        try:
            import bittensor  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RegistryError(
                "PROCTOR_REGISTRY=chain needs the bittensor SDK: pip install 'proctor[chain]'"
            ) from exc

    async def load(self) -> SourceView | None:
        if time.monotonic() - self._last < self.min_interval:
            return None
        view = await asyncio.to_thread(self._sync)
        self._last = time.monotonic()
        return view

    def _sync(self) -> SourceView:  # pragma: no cover - needs a chain endpoint
        import bittensor

        try:
            metagraph = bittensor.Subtensor(network=self.network).metagraph(self.netuid)
        except Exception as exc:  # the SDK raises many types; all mean "no fresh view"
            raise RegistryError(f"metagraph sync failed: {exc}") from exc
        neurons = {
            hotkey: Neuron(
                hotkey=hotkey,
                uid=int(uid),
                validator_permit=bool(metagraph.validator_permit[i]),
                stake=float(metagraph.S[i]),
            )
            for i, (uid, hotkey) in enumerate(zip(metagraph.uids, metagraph.hotkeys, strict=True))
        }
        return SourceView(
            neurons=neurons, netuid=self.netuid, block=int(metagraph.block), block_at=time.time()
        )


def parse_registry_document(text: str, *, suffix: str = ".yaml") -> SourceView:
    """Parse and validate a registry file's contents."""
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RegistryError(f"registry file is not valid {suffix.lstrip('.') or 'YAML'}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("neurons", []), list):
        raise RegistryError("registry file must be a mapping with a 'neurons' list")
    neurons: dict[str, Neuron] = {}
    for position, entry in enumerate(data.get("neurons") or []):
        neuron = _parse_neuron(entry, position)
        if neuron.hotkey in neurons:
            raise RegistryError(f"neurons[{position}]: duplicate hotkey {neuron.hotkey}")
        neurons[neuron.hotkey] = neuron
    netuid = data.get("netuid")
    if netuid is not None and not isinstance(netuid, int):
        raise RegistryError("netuid must be an integer")
    return SourceView(neurons=neurons, netuid=netuid)


def _parse_neuron(entry: Any, position: int) -> Neuron:
    if not isinstance(entry, dict) or not isinstance(entry.get("hotkey"), str):
        raise RegistryError(f"neurons[{position}]: needs a 'hotkey' string")
    hotkey = entry["hotkey"].strip()
    if not is_valid_ss58(hotkey):
        raise RegistryError(f"neurons[{position}]: {hotkey!r} is not a valid SS58 address")
    try:
        uid = entry.get("uid")
        return Neuron(
            hotkey=hotkey,
            uid=None if uid is None else int(uid),
            validator_permit=bool(entry.get("validator_permit", False)),
            stake=float(entry.get("stake", 0.0)),
            commitment=None if entry.get("commitment") is None else str(entry["commitment"]),
        )
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"neurons[{position}]: {exc}") from exc


def source_from_setting(value: str, *, chain_network: str, chain_netuid: int) -> RegistrySource:
    """Map `PROCTOR_REGISTRY` to a source."""
    if value == "open":
        return OpenSource()
    if value == "chain":
        return ChainSource(chain_network, chain_netuid)
    return FileSource(Path(value))


@dataclass(frozen=True)
class Snapshot:
    source: SourceView | None  # None: the source has never been read successfully
    overrides: Overrides
    refreshed_at: float  # monotonic time of the last fully successful refresh
    error: str | None = None


class Registry:
    """Merged, refreshed, fail-closed view of identities."""

    def __init__(
        self,
        source: RegistrySource,
        load_overrides: Callable[[], Awaitable[Overrides]],
        *,
        admin_hotkeys: frozenset[str] = frozenset(),
        refresh_seconds: float = 2.0,
        max_age_seconds: float = 1200.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self._load_overrides = load_overrides
        self.admin_hotkeys = admin_hotkeys
        self.refresh_seconds = refresh_seconds
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._snapshot = Snapshot(source=None, overrides=Overrides(), refreshed_at=float("-inf"))
        self._lock = asyncio.Lock()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    async def refresh(self) -> None:
        """Re-read the source (when changed) and the database overrides; never raises."""
        async with self._lock:
            current = self._snapshot
            try:
                view = await self.source.load()
            except RegistryError as exc:
                # An unreadable or malformed source fails closed at once: the old view is dropped.
                self._record_error(str(exc), drop_source=True)
                return
            except Exception as exc:  # a bug or an I/O oddity must not kill the refresher
                self._record_error(f"registry source failed: {exc!r}", drop_source=False)
                return
            try:
                overrides = await self._load_overrides()
            except Exception as exc:  # database down: keep the last view until it goes stale
                self._record_error(f"cannot load bans/grants: {exc!r}", drop_source=False)
                return
            self._snapshot = Snapshot(
                source=view if view is not None else current.source,
                overrides=overrides,
                refreshed_at=self._clock() if (view or current.source) else current.refreshed_at,
            )

    def _record_error(self, message: str, *, drop_source: bool) -> None:
        if self._snapshot.error != message:
            log.error("registry.refresh_failed", error=message, source=self.source.name)
        snap = self._snapshot
        self._snapshot = Snapshot(
            source=None if drop_source else snap.source,
            overrides=snap.overrides,
            refreshed_at=snap.refreshed_at,
            error=message,
        )

    @property
    def chain_head(self) -> tuple[int, float] | None:
        """(block, Unix time it was read) of the last metagraph sync; None unless the source is the chain."""
        source = self._snapshot.source
        if source is None or source.block is None or source.block_at is None:
            return None
        return source.block, source.block_at

    def is_fresh(self) -> bool:
        snap = self._snapshot
        return snap.source is not None and self._clock() - snap.refreshed_at <= self.max_age_seconds

    def lookup(self, hotkey: str) -> Identity:
        """Resolve one hotkey against the current snapshot (fails closed when stale)."""
        snap = self._snapshot
        ban_reason = snap.overrides.bans.get(hotkey)
        banned = ban_reason is not None
        if not self.is_fresh() or snap.source is None:
            return Identity(hotkey, registered=False, banned=banned, ban_reason=ban_reason or "", fresh=False)
        neuron = snap.overrides.grants.get(hotkey) or snap.source.neurons.get(hotkey)
        if neuron is None:
            return Identity(hotkey, registered=snap.source.open, banned=banned, ban_reason=ban_reason or "")
        return Identity(
            hotkey,
            registered=True,
            uid=neuron.uid,
            validator_permit=neuron.validator_permit,
            stake=neuron.stake,
            banned=banned,
            ban_reason=ban_reason or "",
        )

    def commitment(self, hotkey: str) -> str | None:
        """The hotkey's revealed commitment as the source reports it (None when unknown or stale)."""
        snap = self._snapshot
        if not self.is_fresh() or snap.source is None:
            return None
        neuron = snap.source.neurons.get(hotkey)
        return neuron.commitment if neuron else None

    def validators(self) -> list[Identity]:
        """Every hotkey currently holding a validator permit (bans included, flagged)."""
        snap = self._snapshot
        if snap.source is None:
            return []
        keys = {k for k, n in snap.source.neurons.items() if n.validator_permit}
        keys |= {k for k, n in snap.overrides.grants.items() if n.validator_permit}
        return [self.lookup(k) for k in sorted(keys)]

    def status(self) -> dict[str, Any]:
        """Operator-facing summary for health checks and the CLI."""
        snap = self._snapshot
        age = self._clock() - snap.refreshed_at if snap.refreshed_at != float("-inf") else None
        return {
            "source": self.source.name,
            "fresh": self.is_fresh(),
            "age_seconds": None if age is None else round(age, 1),
            "neurons": 0 if snap.source is None else len(snap.source.neurons),
            "grants": len(snap.overrides.grants),
            "bans": len(snap.overrides.bans),
            "error": snap.error,
        }

    async def run_refresher(self, stop: asyncio.Event) -> None:
        """Refresh every `refresh_seconds` until `stop` is set."""
        while not stop.is_set():
            await self.refresh()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.refresh_seconds)
            except TimeoutError:
                continue
