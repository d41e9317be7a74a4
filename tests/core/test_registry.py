"""Registry sources, merging of operator overrides, and failing closed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from proctor.core.identity.registry import (
    FileSource,
    Neuron,
    OpenSource,
    Overrides,
    Registry,
    RegistryError,
    parse_registry_document,
)
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, neurons: list[dict[str, object]]) -> None:
    path.write_text(yaml.safe_dump({"netuid": 15, "neurons": neurons}))


def make_registry(source: object, overrides: Overrides | None = None, **kwargs: object) -> Registry:
    async def load() -> Overrides:
        return overrides or Overrides()

    return Registry(source, load, **kwargs)  # type: ignore[arg-type]


class TestParse:
    def test_yaml_and_json_forms(self) -> None:
        doc = {
            "netuid": 15,
            "neurons": [
                {"hotkey": ALICE.ss58_address, "uid": 0, "validator_permit": True, "stake": 1000.0},
                {"hotkey": BOB.ss58_address, "uid": 1},
            ],
        }
        for view in (
            parse_registry_document(yaml.safe_dump(doc)),
            parse_registry_document(json.dumps(doc), suffix=".json"),
        ):
            assert view.netuid == 15
            assert view.neurons[ALICE.ss58_address] == Neuron(ALICE.ss58_address, 0, True, 1000.0)
            assert view.neurons[BOB.ss58_address].validator_permit is False

    @pytest.mark.parametrize(
        "text",
        [
            "neurons: [{hotkey: 5NotValid}]",
            "- just a list",
            "neurons: [{uid: 3}]",
            "neurons: {not: a list}",
            f"neurons: [{{hotkey: {ALICE.ss58_address}}}, {{hotkey: {ALICE.ss58_address}}}]",
            f"neurons: [{{hotkey: {ALICE.ss58_address}, stake: lots}}]",
            "netuid: fifteen\nneurons: []",
            "{unclosed",
        ],
    )
    def test_malformed_documents_are_refused(self, text: str) -> None:
        with pytest.raises(RegistryError):
            parse_registry_document(text)


class TestFileRegistry:
    async def test_lookup_roles(self, tmp_path: Path) -> None:
        path = tmp_path / "r.yaml"
        write(
            path,
            [
                {"hotkey": ALICE.ss58_address, "validator_permit": True, "stake": 5.0},
                {"hotkey": BOB.ss58_address},
            ],
        )
        registry = make_registry(FileSource(path))
        await registry.refresh()
        alice, bob, dave = (registry.lookup(k.ss58_address) for k in (ALICE, BOB, DAVE))
        assert alice.registered and alice.validator_permit and alice.stake == 5.0
        assert bob.registered and not bob.validator_permit
        assert not dave.registered and dave.fresh

    async def test_file_change_is_picked_up(self, tmp_path: Path) -> None:
        path = tmp_path / "r.yaml"
        write(path, [{"hotkey": ALICE.ss58_address}])
        registry = make_registry(FileSource(path))
        await registry.refresh()
        assert not registry.lookup(BOB.ss58_address).registered
        write(path, [{"hotkey": k.ss58_address} for k in (ALICE, BOB, CHARLIE)])
        await registry.refresh()
        assert registry.lookup(BOB.ss58_address).registered
        write(path, [{"hotkey": BOB.ss58_address}])
        await registry.refresh()
        assert not registry.lookup(ALICE.ss58_address).registered, "a removed neuron loses registration"

    async def test_broken_file_fails_closed_and_recovers(self, tmp_path: Path) -> None:
        path = tmp_path / "r.yaml"
        write(path, [{"hotkey": ALICE.ss58_address}])
        registry = make_registry(FileSource(path))
        await registry.refresh()
        assert registry.lookup(ALICE.ss58_address).registered
        path.write_text("neurons: [{hotkey: broken")
        await registry.refresh()
        identity = registry.lookup(ALICE.ss58_address)
        assert not identity.registered and not identity.fresh
        assert registry.status()["error"]
        write(path, [{"hotkey": ALICE.ss58_address}])
        await registry.refresh()
        assert registry.lookup(ALICE.ss58_address).registered
        assert registry.status()["error"] is None

    async def test_missing_file_fails_closed(self, tmp_path: Path) -> None:
        registry = make_registry(FileSource(tmp_path / "absent.yaml"))
        await registry.refresh()
        assert not registry.lookup(ALICE.ss58_address).registered
        assert not registry.is_fresh()

    async def test_stale_snapshot_fails_closed(self, tmp_path: Path) -> None:
        clock = FakeClock()
        path = tmp_path / "r.yaml"
        write(path, [{"hotkey": ALICE.ss58_address}])
        calls = {"n": 0}

        async def overrides() -> Overrides:
            calls["n"] += 1
            if calls["n"] > 1:
                raise ConnectionError("database down")
            return Overrides()

        registry = Registry(FileSource(path), overrides, max_age_seconds=60, clock=clock)
        await registry.refresh()
        clock.now += 30
        await registry.refresh()  # fails, but the last view is still young enough
        assert registry.lookup(ALICE.ss58_address).registered
        clock.now += 31
        assert not registry.lookup(ALICE.ss58_address).registered, "older than max age: fail closed"


class TestOverrides:
    async def test_open_mode_registers_any_key_but_not_validators(self) -> None:
        registry = make_registry(OpenSource())
        await registry.refresh()
        dave = registry.lookup(DAVE.ss58_address)
        assert dave.registered and not dave.validator_permit

    async def test_grants_and_bans_override_the_source(self, tmp_path: Path) -> None:
        path = tmp_path / "r.yaml"
        write(path, [{"hotkey": BOB.ss58_address}])
        overrides = Overrides(
            grants={DAVE.ss58_address: Neuron(DAVE.ss58_address, validator_permit=True, stake=50.0)},
            bans={BOB.ss58_address: "sybil"},
        )
        registry = make_registry(FileSource(path), overrides)
        await registry.refresh()
        dave, bob = registry.lookup(DAVE.ss58_address), registry.lookup(BOB.ss58_address)
        assert dave.registered and dave.validator_permit and dave.stake == 50.0
        assert bob.registered and bob.banned and bob.ban_reason == "sybil"
        assert [i.hotkey for i in registry.validators()] == [DAVE.ss58_address]
