"""Race pages in-process, on SQLite and PostgreSQL: the current race, history and detail read through
the JSON API's race reads (and agreeing with it), the leaderboard's score-type switch, races on the
agent page, and the pages' absence when the ORO surface is not mounted."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from proctor.config import Settings
from tests.conftest import running_app
from tests.surfaces.dashboard.seed import RACE_SETTINGS, Seeded, seed
from tests.surfaces.dashboard.test_pages import FRAGMENT, rows


@pytest.fixture
def race_settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(
        database_url=database_url,
        eval_required_successes=1,
        code_release_delay_seconds=0,
        top_margin=0.0,
        **RACE_SETTINGS,
    )


@pytest.fixture
async def raced(race_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Seeded, httpx.AsyncClient]]:
    """Six eligible agents; race 1 complete (agent-004 beat the incumbent agent-005), race 2 open."""
    data = await seed(race_settings.database_url, tmp_path, eligible=6, with_races=True, waiting=False)
    async with running_app(race_settings) as (_, client):
        yield data, client


async def test_race_pages_before_any_race(race_settings: Settings) -> None:
    async with running_app(race_settings) as (_, client):
        home = await client.get("/")
        assert 'href="/dashboard/races"' in home.text  # the ORO surface is mounted: races are in the nav
        assert 'aria-label="Score type"' not in home.text  # no race has completed: no switch
        current = await client.get("/dashboard/races")
        assert current.status_code == 200 and "No race has opened yet" in current.text
        history = await client.get("/dashboard/races/history")
        assert history.status_code == 200 and "No race has completed yet" in history.text
        for path in ("/dashboard/races/not-a-uuid", f"/dashboard/races/{uuid.uuid4()}"):
            missing = await client.get(path)
            assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
            assert "Not found" in missing.text, path


async def test_no_race_pages_without_the_oro_surface(
    make_settings: Callable[..., Settings], database_url: str
) -> None:
    settings = make_settings(database_url=database_url, surfaces=["dashboard"])
    async with running_app(settings) as (_, client):
        assert "/dashboard/races" not in (await client.get("/")).text
        for path in ("/dashboard/races", "/dashboard/races/history", f"/dashboard/races/{uuid.uuid4()}"):
            page = await client.get(path)
            assert page.status_code == 404 and "not mounted" in page.text, path
        board = await client.get("/", params={"score_type": "race"})  # falls back to qualifying scores
        assert board.status_code == 200 and "Race scores" not in board.text


async def test_current_race_history_and_detail(raced: tuple[Seeded, httpx.AsyncClient]) -> None:
    data, client = raced
    first, second = data.races
    current = await client.get("/dashboard/races")
    assert current.status_code == 200 and "Race 2" in current.text and "QUALIFYING_OPEN" in current.text
    assert "Qualifying is open" in current.text and f'data-live="races race:{second}"' in current.text

    history = await client.get("/dashboard/races/history")
    listed = rows(history.text, "history")
    assert len(listed) == 1 and f'href="/dashboard/races/{first}"' in listed[0]
    assert "agent-004" in listed[0] and "0.8000" in listed[0] and "RACE_COMPLETE" in listed[0]

    detail = await client.get(f"/dashboard/races/{first}")
    assert detail.status_code == 200 and "<h1>Race 1</h1>" in detail.text
    field = rows(detail.text, "race")
    assert len(field) == 2
    assert "agent-004" in field[0] and "winner" in field[0] and "0.8000" in field[0] and "scored" in field[0]
    assert "agent-005" in field[1] and "0.6000" in field[1] and "incumbent" in field[1]
    assert "eliminated" in field[1] and "SUCCESS" in field[1] and "finished" in field[1]
    # The page shows what the JSON API says about the same race.
    api = (await client.get(f"/v1/public/races/{first}")).json()
    assert [(q["agent_name"], q["race_rank"]) for q in api["qualifiers"]] == [
        ("agent-004", 1),
        ("agent-005", 2),
    ]
    assert api["race"]["winner_agent_version_id"] == data.eligible[1]

    fragment = await client.get(f"/dashboard/races/{first}", headers=FRAGMENT)
    assert "<html" not in fragment.text and "agent-004" in fragment.text


async def test_leaderboard_switches_to_race_scores(raced: tuple[Seeded, httpx.AsyncClient]) -> None:
    data, client = raced
    qualifying = await client.get("/")
    assert 'aria-label="Score type"' in qualifying.text
    assert "agent-005" in rows(qualifying.text)[0]  # the best final score
    race = await client.get("/", params={"score_type": "race"})
    ranked = rows(race.text)
    assert len(ranked) == 2 and "agent-004" in ranked[0] and "0.8000" in ranked[0] and "winner" in ranked[0]
    assert "agent-005" in ranked[1] and "Race 1" in race.text
    assert 'name="score_type" value="race"' in race.text  # a search stays on race scores
    found = await client.get("/", params={"score_type": "race", "q": "agent-005"})
    assert len(rows(found.text)) == 1 and "1 matching" in found.text
    api = (await client.get("/v1/public/leaderboard", params={"score_type": "race"})).json()
    assert [e["agent_name"] for e in api["entries"]] == ["agent-004", "agent-005"]
    bogus = await client.get("/", params={"score_type": "bogus"})
    assert bogus.status_code == 200 and "agent-005" in rows(bogus.text)[0]


async def test_agent_page_lists_its_races_and_filters_runs_by_phase(
    raced: tuple[Seeded, httpx.AsyncClient],
) -> None:
    data, client = raced
    first = data.races[0]
    url = f"/dashboard/agents/{data.eligible[1]}"
    page = await client.get(url)
    races = rows(page.text, "races")
    assert len(races) == 1 and f'href="/dashboard/races/{first}"' in races[0]
    assert "0.8000" in races[0] and "winner" in races[0]
    assert len(rows(page.text, "runs")) == 2  # its qualifying run and its race run
    assert page.text.count('<td class="cell') == 5  # the matrix: 5 public problems × the qualifying run
    race_runs = rows((await client.get(url, params={"phase": "race"})).text, "runs")
    assert len(race_runs) == 1 and "race 1" in race_runs[0]
    qualifying_runs = rows((await client.get(url, params={"phase": "qualifying"})).text, "runs")
    assert len(qualifying_runs) == 1 and "qualifying" in qualifying_runs[0]
    assert re.search(r'aria-current="page">Qualifying<', (await client.get(url + "?phase=qualifying")).text)
