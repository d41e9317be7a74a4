"""ORO's site routes of oro-sdk 1.0.50+: the top miner's payout, the inference models, the waitlist."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from oro_sdk.models import (
    InferenceModelsResponse,
    RankedInferenceModelsResponse,
    TopMinerPayoutResponse,
    WaitlistSignupResponse,
)
from sqlalchemy import func, select

from proctor.app import create_app
from proctor.core.evaluations import flows
from proctor.models import WaitlistSignup
from tests.support.world import World, make_world, miner

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(
        database_url,
        tmp_path,
        miner_tao_per_day=120.0,
        tao_price_usd=400.0,
        top_emission_weight=0.25,
        inference_models=["deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-32B"],
        rate_limit_global="100000/minute",
    ):
        yield w


async def _client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(world.settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proctor.test") as client:
            yield client


async def _make_top(world: World) -> str:
    hotkey = miner(1)
    await world.submit(hotkey, now=T0, name="lamp-finder")
    for validator in ("val-a", "val-b"):
        claim = await flows.claim_work(
            world.core, validator=validator, report=None, now=T0, base_url="http://t"
        )
        assert claim is not None
        await flows.complete_run(
            world.core,
            run_id=claim.run.id,
            validator=validator,
            status="SUCCESS",
            score=0.8,
            failure_reason=None,
            details={},
            now=T0,
        )
    return hotkey


async def test_payout_is_the_top_miners_share_of_the_configured_emission(world: World) -> None:
    hotkey = await _make_top(world)  # before the app starts: its top view is cached per process
    async for client in _client(world):
        r = await client.get("/v1/public/top-miner-payout")
        assert r.status_code == 200
        payout = TopMinerPayoutResponse.from_dict(r.json())
        assert payout.miner_hotkey == hotkey and payout.agent_name == "lamp-finder"
        assert payout.tao_per_day == pytest.approx(30.0) and payout.usd_per_day == pytest.approx(12_000.0)
        assert payout.tao_price_usd == pytest.approx(400.0)


async def test_inference_models_plain_ranked_and_unknown_provider(world: World) -> None:
    async for client in _client(world):
        empty = TopMinerPayoutResponse.from_dict((await client.get("/v1/public/top-miner-payout")).json())
        assert empty.miner_hotkey is None and empty.tao_per_day is None, "no top yet: nothing to pay"
        plain = InferenceModelsResponse.from_dict((await client.get("/v1/public/inference/models")).json())
        assert plain.models == ["deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-32B"]
        r = await client.get("/v1/public/inference/models", params={"ranked": "true"})
        ranked = RankedInferenceModelsResponse.from_dict(r.json())
        assert [m.id for m in ranked.models] == plain.models and all(m.healthy for m in ranked.models)
        other = await client.get("/v1/public/inference/models", params={"provider": "openrouter"})
        assert other.json() == {"models": []}
        bad = await client.get("/v1/public/inference/models", params={"ranked": "perhaps"})
        assert bad.status_code == 422


async def test_waitlist_keeps_an_address_once_and_refuses_bad_input(world: World) -> None:
    async for client in _client(world):
        answers = await asyncio.gather(
            *(client.post("/v1/public/waitlist", json={"email": "Ann@Example.org"}) for _ in range(5))
        )
        assert {a.status_code for a in answers} == {200}
        assert WaitlistSignupResponse.from_dict(answers[0].json()).success is True
        again = await client.post("/v1/public/waitlist", json={"email": "ann@example.org", "source": "x"})
        assert again.status_code == 200
        for body in ({"email": "not-an-address"}, {"email": "a@b.c", "source": "bad source!"}, {}):
            bad = await client.post("/v1/public/waitlist", json=body)
            assert 400 <= bad.status_code < 500, body
            assert "error_code" in bad.json() or "detail" in bad.json()
        async with world.sessionmaker() as s:
            rows = (await s.execute(select(WaitlistSignup))).scalars().all()
            assert [(r.email, r.source) for r in rows] == [("ann@example.org", "landing")]
            assert await s.scalar(select(func.count()).select_from(WaitlistSignup)) == 1
