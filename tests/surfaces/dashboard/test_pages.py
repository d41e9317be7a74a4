"""Dashboard pages in-process, on SQLite and PostgreSQL: what each page shows, search and paging, HTML
errors, and the `live` fragments the page script swaps in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from proctor.config import Settings
from proctor.core.dashboard import live, views
from tests.conftest import running_app
from tests.support.signing import ALICE, oro_headers
from tests.surfaces.dashboard.seed import Seeded, seed

FRAGMENT = {"X-Dashboard-Fragment": "1"}


def rows(html: str, table_class: str = "board") -> list[str]:
    body = html.split(f'class="{table_class}"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)[1:]  # past the header row


def test_hourly_counts_cover_the_last_day() -> None:
    now = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    times = [
        now,
        now.replace(tzinfo=None),
        now - timedelta(hours=1),
        now - timedelta(hours=23),
        now - timedelta(hours=25),
    ]
    hourly = views.hourly_counts(times, now=now)
    assert len(hourly) == 24 and hourly[-1] == (now.replace(minute=0), 2)
    assert hourly[-2][1] == 1 and hourly[0] == (datetime(2025, 12, 31, 13, tzinfo=UTC), 1)
    assert sum(n for _, n in hourly) == 4


@pytest.fixture
def dash_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url=database_url, eval_required_successes=1, code_release_delay_seconds=0)


@pytest.fixture
async def seeded(dash_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Seeded, httpx.AsyncClient]]:
    data = await seed(dash_settings.database_url, tmp_path, eligible=30)
    async with running_app(dash_settings) as (_, client):
        yield data, client


async def test_pages_render_before_anything_exists(dash_settings: Settings) -> None:
    async with running_app(dash_settings) as (_, client):
        home = await client.get("/")
        assert home.status_code == 200 and "No suite is active yet" in home.text
        assert '<main id="main"' in home.text and 'aria-label="Main"' in home.text
        for path, expected in [
            ("/dashboard/leaderboard", "No suite is active yet"),
            ("/dashboard/validators", "No validator has reported in yet"),
            ("/dashboard/evaluations", "No run is in progress"),
            ("/dashboard/rewards", "No epoch has been published yet"),
            ("/dashboard/rewards?hotkey=5Nobody", "No reward epoch has been published yet"),
        ]:
            page = await client.get(path)
            assert page.status_code == 200 and expected in page.text, path
        for page_path in ("/", "/dashboard/validators"):  # assets resolve from the root and inside the mount
            html = (await client.get(page_path)).text
            assert 'href="/dashboard/static/dashboard.css"' in html
            assert 'src="/dashboard/static/live.js"' in html
        css = await client.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200 and "prefers-color-scheme" in css.text
        assert (await client.get("/dashboard/static/live.js")).status_code == 200


async def test_unknown_things_are_html_404s(dash_settings: Settings) -> None:
    async with running_app(dash_settings) as (_, client):
        for path in [
            "/dashboard/agents/not-a-uuid",
            "/dashboard/agents/00000000-0000-0000-0000-000000000000",
            "/dashboard/agents/00000000-0000-0000-0000-000000000000/code",
            "/dashboard/compute",  # the compute surface is not mounted here
            "/dashboard/no-such-page",
        ]:
            page = await client.get(path)
            assert page.status_code == 404, path
            assert page.headers["content-type"].startswith("text/html") and "Not found" in page.text


async def test_dashboard_root_leads_to_the_leaderboard(dash_settings: Settings) -> None:
    async with running_app(dash_settings) as (_, client):
        for path in ("/dashboard", "/dashboard/"):
            answer = await client.get(path, follow_redirects=True)
            assert (
                answer.status_code == 200
                and str(answer.url).endswith("/")
                and "<h1>Leaderboard" in answer.text
            )


async def test_leaderboard_ranks_searches_and_pages(seeded: tuple[Seeded, httpx.AsyncClient]) -> None:
    data, client = seeded
    first = await client.get("/")
    ranked = rows(first.text)
    assert len(ranked) == 25 and "agent-029" in ranked[0] and "0.5900" in ranked[0]
    assert "Page 1 of 2" in first.text and 'rel="next"' in first.text and 'rel="prev"' not in first.text
    assert "Eligible agents</dt><dd>30" in first.text
    second = await client.get("/", params={"page": 2})
    assert [r for r in rows(second.text) if "agent-000" in r] and len(rows(second.text)) == 5
    found = await client.get("/", params={"q": "agent-00"})
    assert len(rows(found.text)) == 10 and "10 matching" in found.text
    assert len(rows((await client.get("/", params={"q": "nothing-like-this"})).text)) == 1  # the empty row
    lenient = await client.get("/", params={"page": "abc", "per_page": "9999"})
    assert lenient.status_code == 200 and len(rows(lenient.text)) == 30
    assert f"/dashboard/agents/{data.eligible[0]}" in first.text
    by_miner = await client.get("/", params={"q": data.top_miner})  # the miner link's search
    assert len(rows(by_miner.text)) == 1 and "agent-029" in by_miner.text
    assert f'href="/?q={data.top_miner}"' in first.text
    assert "Score distribution" in first.text and "<rect" in first.text


async def test_agent_page_follows_a_run_through_the_validator_api(
    seeded: tuple[Seeded, httpx.AsyncClient],
) -> None:
    data, client = seeded
    page = await client.get(f"/dashboard/agents/{data.waiting}")
    assert page.status_code == 200 and "No validator has claimed this agent yet" in page.text
    claim = await client.post("/v1/validator/work/claim", headers=oro_headers(ALICE), json={})
    assert claim.status_code == 200 and claim.json()["agent_version_id"] == data.waiting
    run_id = claim.json()["eval_run_id"]
    progress = await client.post(
        f"/v1/validator/evaluation-runs/{run_id}/progress",
        headers=oro_headers(ALICE),
        json={"problems": [{"problem_id": data.problem_ids[0], "status": "SUCCESS", "score": 0.75}]},
    )
    assert progress.status_code == 200, progress.text
    fragment = await client.get(f"/dashboard/agents/{data.waiting}", headers=FRAGMENT)
    assert "<html" not in fragment.text and "<h1" not in fragment.text
    assert re.search(r'data-status="SUCCESS">\s*<span aria-label="SUCCESS">✓</span> 0.750', fragment.text)
    assert re.search(r"data-progress>1 / 5<", fragment.text)
    running = await client.get("/dashboard/evaluations")
    assert "waiting-agent" in running.text and "1 / 5" in running.text
    assert re.search(r"\d\d:00 UTC: 30 runs\.", running.text)  # the seeded runs, in the throughput chart
    validators = (await client.get("/dashboard/validators")).text
    assert ALICE.ss58_address in validators and ">30<" in validators and "waiting-agent" in validators


async def test_rewards_show_epochs_and_a_claim_lookup(seeded: tuple[Seeded, httpx.AsyncClient]) -> None:
    data, client = seeded
    page = await client.get("/dashboard/rewards", params={"hotkey": data.top_miner})
    assert page.status_code == 200 and "Proof package for epoch 1" in page.text
    assert '"proof"' in page.text and f'"hotkey": "{data.top_miner}"' in page.text.replace("&#34;", '"')
    assert re.search(r'<td class="num">1</td>\s*<td><time', page.text)  # the epoch row
    missing = await client.get("/dashboard/rewards", params={"hotkey": "5NotPaid"})
    assert "This hotkey has no reward in the newest epoch." in missing.text


async def test_compute_page_when_its_surface_is_mounted(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_url=database_url, surfaces=["oro", "compute", "dashboard"])
    async with running_app(settings) as (_, client):
        assert 'href="/dashboard/compute"' in (await client.get("/")).text
        offer = {
            "name": "rig-a",
            "gpu_type": "a100",
            "gpu_count": 2,
            "price_per_hour": 1,
            "max_concurrent": 2,
        }
        assert (await client.post("/v1/miners", json=offer)).status_code == 201
        page = await client.get("/dashboard/compute")
        assert page.status_code == 200 and "rig-a" in page.text and "2 × a100" in page.text
        assert "No job yet." in page.text


async def test_eligible_agent_page_links_released_code(seeded: tuple[Seeded, httpx.AsyncClient]) -> None:
    data, client = seeded
    page = await client.get(f"/dashboard/agents/{data.eligible[0]}")
    assert "ELIGIBLE" in page.text and "0.5900" in page.text
    code = await client.get(f"/dashboard/agents/{data.eligible[0]}/code")
    assert code.status_code == 303
    download = await client.get(code.headers["location"])
    assert download.status_code == 200 and b"agent_main" in download.content
    source = await client.get(f"/dashboard/agents/{data.eligible[0]}/source")
    assert source.status_code == 200 and "def agent_main" in source.text
    unreleased = await client.get(f"/dashboard/agents/{data.waiting}/source")
    assert unreleased.status_code == 404 and "Agent code is not released yet" in unreleased.text


async def test_viewers_share_a_fragment_until_the_next_live_event(
    dash_settings: Settings, tmp_path: Path
) -> None:
    data = await seed(dash_settings.database_url, tmp_path, eligible=1)
    async with running_app(dash_settings) as (app, client):
        hub = live.hub_of(app.state.proctor.core)
        url = f"/dashboard/agents/{data.waiting}"
        before = await client.get(url, headers=FRAGMENT)
        assert "No validator has claimed this agent yet" in before.text
        claim = await client.post("/v1/validator/work/claim", headers=oro_headers(ALICE), json={})
        assert claim.status_code == 200
        assert (await client.get(url, headers=FRAGMENT)).text == before.text  # the same render, shared
        assert "CLAIMED" in (await client.get(url)).text  # a full page is always rendered afresh
        hub.publish("run.claimed", (f"version:{data.waiting}",))  # what the feed does on its next poll
        after = await client.get(url, headers=FRAGMENT)
        assert "CLAIMED" in after.text and "No validator has claimed" not in after.text
