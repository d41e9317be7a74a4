"""Where and how the claim app is mounted, and the periodic publisher inside `proctor serve`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from proctor.config import Settings
from tests.conftest import running_app
from tests.core.rewards.keys import snapshot
from tests.support.signing import ALICE, BOB

A, B = ALICE.ss58_address, BOB.ss58_address


def test_settings() -> None:
    enabled = Settings(claims_enabled=True, surfaces=["oro"], claims_path_prefix="rewards/")
    assert enabled.surfaces == ["oro", "claims"] and enabled.claims_path_prefix == "/rewards"
    assert Settings(surfaces=["oro", "claims"]).claims_enabled
    assert not Settings().claims_enabled and Settings().claims_port == 8844
    with pytest.raises(ValidationError):
        Settings(claims_path_prefix="/")
    with pytest.raises(ValidationError):
        Settings(epoch_publish_interval_seconds=60)


async def test_prefix_and_no_simulation(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
        claims_enabled=True,
        claims_path_prefix="/rewards",
    )
    async with running_app(settings) as (_, client):
        assert (await client.get("/rewards/epochs")).json() == {"epochs": [], "default_epoch": None}
        assert (await client.get("/rewards/health")).json()["simulation"] is False
        assert (await client.get("/claims/epochs")).status_code == 404
        assert (await client.post("/rewards/epoch/claim", json={})).status_code == 405
        assert (await client.get("/rewards/ledger")).status_code == 404
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/rewards/epoch/{epoch_id}/claim/{hotkey}" in paths and "/rewards/ledger" not in paths


async def test_periodic_publisher(
    make_settings: Callable[..., Settings], database_url: str, tmp_path: Path
) -> None:
    scores = tmp_path / "scores.json"
    scores.write_text(json.dumps(snapshot((1, {A: 1, B: 1}))))
    settings = make_settings(
        database_url=database_url,
        claims_enabled=True,
        epoch_publish_interval_seconds=0.5,
        epoch_budget_units=100,
        epoch_scores=str(scores),
    )
    async with running_app(settings) as (_, client):
        for _ in range(100):
            epochs = (await client.get("/claims/epochs")).json()["epochs"]
            if len(epochs) >= 2:
                break
            await asyncio.sleep(0.1)
        assert epochs[-2:] == [2, 1]
        second = (await client.get(f"/claims/epoch/2/claim/{A}")).json()
        assert second["amount_units"] == 100, "50 per epoch, cumulative"
