"""The race pages in a real browser (Debian's Chromium, Playwright) against a real `proctor serve` on a
network with one completed race and the next one open for qualifying.

Every race page (and the leaderboard's race scores, an agent's races) loads with no console error, no
failed request and no foreign request at desktop and phone width, with screenshots under the test
run's output; the pages render with JavaScript off; and a whole race runs live on the open race page:
the operator closes qualifying, then ORO's own validator client (oro-sdk) works the race through a
second replica, and each step -- the field, a run claimed, its progress, its race score, the race
complete with its winner -- shows within 2 s without a reload.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import REGISTRY
from tests.support import services
from tests.support.server import ServerProcess
from tests.support.signing import EVE
from tests.surfaces.dashboard.browsing import LANDMARKS_AND_LABELS, LIVE, VIEWPORTS, Watched, launch
from tests.surfaces.dashboard.seed import RACE_ENV, Seeded, seed

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("chromium_ready")]

STEP_MS = 2000  # each live step must show within 2 s


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, Seeded]:
    """Six eligible agents on SQLite; race 1 complete (agent-004 beat agent-005), race 2 qualifying."""
    root = tmp_path_factory.mktemp("dashboard-races")
    registry = root / "registry.yaml"
    registry.write_text(yaml.safe_dump(REGISTRY))
    database_url = f"sqlite+aiosqlite:///{root / 'proctor.db'}"
    data = services.blocking(seed(database_url, root, eligible=6, with_races=True, waiting=False))
    env = {
        "PROCTOR_DATA_DIR": str(root / "data"),
        "PROCTOR_DATABASE_URL": database_url,
        "PROCTOR_REGISTRY": str(registry),
        "PROCTOR_RATE_LIMIT_GLOBAL": "100000/minute",
        "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1",
        "PROCTOR_CODE_RELEASE_DELAY_SECONDS": "0",
        "PROCTOR_TOP_MARGIN": "0",
        "PROCTOR_LOG_LEVEL": "WARNING",
        "PROCTOR_DASHBOARD_POLL_SECONDS": "0.25",
        "PROCTOR_RACE_INTERVAL_SECONDS": "0",  # the operator closes qualifying in the test
        "PROCTOR_SURFACES": "oro,dashboard",
        **RACE_ENV,
    }
    return env, root, data


@pytest.fixture(scope="module")
def site(network: tuple[dict[str, str], Path, Seeded]) -> Iterator[tuple[ServerProcess, Seeded]]:
    env, root, data = network
    with ServerProcess(env, root / "server") as server:
        yield server, data


@pytest.fixture(scope="module")
def browser(site: tuple[ServerProcess, Seeded]) -> Iterator[Any]:
    yield from launch()


def pages(data: Seeded) -> dict[str, str]:
    first = data.races[0]
    return {
        "race-current": "/dashboard/races",
        "race-history": "/dashboard/races/history",
        "race-detail": f"/dashboard/races/{first}",
        "leaderboard-race-scores": "/?score_type=race",
        "agent-with-races": f"/dashboard/agents/{data.eligible[1]}",
        "agent-race-runs": f"/dashboard/agents/{data.eligible[1]}?phase=race",
    }


def test_race_pages_load_cleanly_at_desktop_and_phone_width(
    browser: Any, site: tuple[ServerProcess, Seeded], shots: Path
) -> None:
    server, data = site
    for label, (viewport, scheme) in VIEWPORTS.items():
        with browser.new_context(viewport=viewport, color_scheme=scheme, base_url=server.base_url) as context:
            watched = Watched(context, server.base_url)
            for name, path in pages(data).items():
                response = watched.page.goto(path, wait_until="load")
                assert response is not None and response.status == 200, (name, label)
                watched.page.wait_for_function(LIVE)
                assert watched.page.evaluate(LANDMARKS_AND_LABELS) == [], name
                overflow = watched.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{name} scrolls sideways at {label} width"
                watched.page.screenshot(path=str(shots / f"{name}-{label}-{scheme}.png"), full_page=True)
                assert watched.clean() == [], (name, label)


def test_race_pages_render_with_javascript_off(browser: Any, site: tuple[ServerProcess, Seeded]) -> None:
    server, data = site
    with browser.new_context(java_script_enabled=False, base_url=server.base_url) as context:
        page = context.new_page()
        page.goto(f"/dashboard/races/{data.races[0]}")
        field = page.locator("table.race tbody tr")
        assert field.count() == 2 and "winner" in field.first.inner_text()
        assert "reload to refresh" in page.locator("#live-status").inner_text()
        page.goto("/")
        page.get_by_role("link", name="Race scores").click()  # the switch is a plain link
        page.wait_for_url("**score_type=race*")
        assert page.locator("table.board tbody tr").count() == 2
        page.get_by_role("link", name="Races", exact=True).click()
        page.wait_for_url("**/dashboard/races")
        assert "QUALIFYING_OPEN" in page.locator("#live").inner_text()


def close_qualifying(env: dict[str, str]) -> None:
    """The operator's command, run against the same database."""
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "admin", "race", "close-qualifying"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_a_race_runs_live_on_the_open_race_page(
    browser: Any,
    site: tuple[ServerProcess, Seeded],
    network: tuple[dict[str, str], Path, Seeded],
    shots: Path,
) -> None:
    from oro_sdk import BittensorAuthClient
    from oro_sdk.api.validator import claim_work, complete_run, update_progress
    from oro_sdk.models import (
        CompleteRunRequest,
        ProblemProgressUpdate,
        ProblemStatus,
        ProgressUpdateRequest,
        TerminalStatus,
    )

    server, data = site
    env, root, _ = network
    with (
        ServerProcess(env, root / "replica") as other,
        BittensorAuthClient(base_url=other.base_url, wallet=EVE, timeout=httpx.Timeout(30)) as eve,
        browser.new_context(base_url=server.base_url) as context,
    ):
        watched = Watched(context, server.base_url)
        page = watched.page
        page.goto("/dashboard/races")
        page.wait_for_function(LIVE)
        live = page.locator("#live")
        assert "Race 2" in live.inner_text() and "QUALIFYING_OPEN" in live.inner_text()

        close_qualifying(env)  # the field is fixed: the incumbent agent-004 and agent-003
        field = page.locator("table.race tbody tr")
        field.nth(1).wait_for(timeout=STEP_MS)
        assert "RACE_RUNNING" in live.inner_text() and field.count() == 2
        names = field.all_inner_texts()
        assert any("agent-004" in n for n in names) and any("agent-003" in n for n in names)

        scores = {}
        for i, score in enumerate((0.7, 0.9)):
            claim = claim_work.sync(client=eve, body=None)
            assert claim is not None  # a race run: the only open work is the field's
            row = page.locator(f'tr[data-qualifier="{claim.agent_version_id}"]')
            assert row.count() == 1
            row.locator(".badge-claimed").wait_for(timeout=STEP_MS)  # the claim shows in its row

            problem = ProblemProgressUpdate(
                problem_id=uuid.UUID(data.race_problem_ids[0]), status=ProblemStatus.SUCCESS, score=1.0
            )
            body = ProgressUpdateRequest(problems=[problem])
            assert update_progress.sync(client=eve, eval_run_id=claim.eval_run_id, body=body) is not None
            row.locator("[data-progress]", has_text="1 / 3").wait_for(timeout=STEP_MS)

            done = complete_run.sync(
                client=eve,
                eval_run_id=claim.eval_run_id,
                body=CompleteRunRequest(terminal_status=TerminalStatus.SUCCESS, validator_score=score),
            )
            assert done is not None
            row.locator("[data-race-score]", has_text=f"{score:.4f}").wait_for(timeout=STEP_MS)
            scores[str(claim.agent_version_id)] = score
            if i == 0:
                page.screenshot(path=str(shots / "race-live-running-desktop.png"), full_page=True)

        # The last item closed: the race completed, the better score won (no margin here).
        page.locator("#live .badge-race_complete").wait_for(timeout=STEP_MS)
        winner = max(scores, key=lambda v: scores[v])
        assert "winner" in page.locator(f'tr[data-qualifier="{winner}"]').inner_text()
        page.screenshot(path=str(shots / "race-live-complete-desktop.png"), full_page=True)
        assert watched.clean() == []
    history = httpx.get(server.base_url + "/dashboard/races/history")
    assert history.status_code == 200 and history.text.count("RACE_COMPLETE") == 2
