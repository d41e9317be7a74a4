"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against a real
`proctor serve` over HTTP on a network seeded through the core's flows.

Every page loads with no console error, no failed request and no request to anything but proctor, at
desktop width in the light scheme and phone width in the dark one, without sideways scrolling
(screenshots go to `test-output/dashboard/`, or $PROCTOR_TEST_OUTPUT); pages
render with JavaScript off; search and paging work; a progress report made through the validator API
shows on the open agent page within 2 s, without a reload.
"""

from __future__ import annotations

import gzip
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
from tests.support.signing import ALICE
from tests.surfaces.dashboard.browsing import LANDMARKS_AND_LABELS, LIVE, VIEWPORTS, Watched, launch
from tests.surfaces.dashboard.seed import Seeded, seed

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("chromium_ready")]


@pytest.fixture(scope="module")
def browser(site: tuple[ServerProcess, Seeded]) -> Iterator[Any]:
    """Chromium, closed before the server stops (an open event stream would hold its shutdown)."""
    yield from launch()


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, Seeded]:
    """A seeded SQLite network: 30 eligible agents, a published reward epoch, one agent waiting."""
    root = tmp_path_factory.mktemp("dashboard")
    registry = root / "registry.yaml"
    registry.write_text(yaml.safe_dump(REGISTRY))
    database_url = f"sqlite+aiosqlite:///{root / 'proctor.db'}"
    data = services.blocking(seed(database_url, root, eligible=30))
    env = {
        "PROCTOR_DATA_DIR": str(root / "data"),
        "PROCTOR_DATABASE_URL": database_url,
        "PROCTOR_REGISTRY": str(registry),
        "PROCTOR_RATE_LIMIT_GLOBAL": "100000/minute",
        "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1",
        "PROCTOR_CODE_RELEASE_DELAY_SECONDS": "0",
        "PROCTOR_LOG_LEVEL": "WARNING",
        "PROCTOR_DASHBOARD_POLL_SECONDS": "0.25",
        "PROCTOR_SURFACES": "oro,compute,dashboard",
    }
    return env, root, data


@pytest.fixture(scope="module")
def site(network: tuple[dict[str, str], Path, Seeded]) -> Iterator[tuple[ServerProcess, Seeded]]:
    """`proctor serve` on the seeded network, with one compute miner registered."""
    env, root, data = network
    with ServerProcess(env, root / "server") as server:
        offer = {"name": "rig-a", "gpu_type": "a100", "gpu_count": 1, "price_per_hour": 1}
        assert httpx.post(server.base_url + "/v1/miners", json=offer).status_code == 201
        yield server, data


def pages(data: Seeded) -> dict[str, str]:
    return {
        "leaderboard": "/",
        "search": "/?q=agent-01",
        "agent": f"/dashboard/agents/{data.eligible[0]}",
        "agent-waiting": f"/dashboard/agents/{data.waiting}",
        "agent-code": f"/dashboard/agents/{data.eligible[0]}/source",
        "validators": "/dashboard/validators",
        "evaluations": "/dashboard/evaluations",
        "rewards": f"/dashboard/rewards?hotkey={data.top_miner}",
        "races-none-yet": "/dashboard/races",
        "race-history-empty": "/dashboard/races/history",
        "compute": "/dashboard/compute",
    }


def test_every_page_loads_cleanly_at_desktop_and_phone_width(
    browser: Any, site: tuple[ServerProcess, Seeded], shots: Path
) -> None:
    server, data = site
    for label, (viewport, scheme) in VIEWPORTS.items():
        with browser.new_context(viewport=viewport, color_scheme=scheme, base_url=server.base_url) as context:
            watched = Watched(context, server.base_url)
            for name, path in pages(data).items():
                response = watched.page.goto(path, wait_until="load")
                assert response is not None and response.status == 200, (name, label)
                if watched.page.locator("#live-status").count():  # live pages connect their event stream
                    watched.page.wait_for_function(LIVE)
                assert watched.page.evaluate(LANDMARKS_AND_LABELS) == [], name
                overflow = watched.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{name} scrolls sideways at {label} width"
                watched.page.screenshot(path=str(shots / f"{name}-{label}-{scheme}.png"), full_page=True)
                assert watched.clean() == [], (name, label)
                if name == "rewards":  # the proof package, with its copy button shown once scripts run
                    assert watched.page.get_by_role("button", name="Copy").is_visible()


def test_pages_render_with_javascript_off(browser: Any, site: tuple[ServerProcess, Seeded]) -> None:
    server, data = site
    with browser.new_context(java_script_enabled=False, base_url=server.base_url) as context:
        page = context.new_page()
        page.goto(f"/dashboard/agents/{data.eligible[0]}")
        assert page.locator("table.matrix td.cell").count() == 5
        assert "reload to refresh" in page.locator("#live-status").inner_text()
        page.goto("/?q=agent-02")
        assert page.locator("table.board tbody tr").count() == 10


def test_leaderboard_search_and_paging(browser: Any, site: tuple[ServerProcess, Seeded]) -> None:
    server, _ = site
    with browser.new_context(base_url=server.base_url) as context:
        page = context.new_page()
        page.goto("/")
        rows = page.locator("table.board tbody tr")
        assert rows.count() == 25 and "agent-029" in rows.first.inner_text()
        page.get_by_role("link", name="Next →").click()
        page.wait_for_url("**/?page=2*")
        assert rows.count() == 5 and rows.first.locator("td").first.inner_text() == "26"
        page.get_by_label("Search agents").fill("agent-00")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**q=agent-00*")
        assert rows.count() == 10 and "10 matching" in page.locator(".stats").inner_text()
        page.get_by_role("link", name="Clear").click()
        page.wait_for_url(server.base_url + "/")
        assert rows.count() == 25


def test_progress_through_the_validator_api_shows_live(
    browser: Any,
    site: tuple[ServerProcess, Seeded],
    network: tuple[dict[str, str], Path, Seeded],
    shots: Path,
) -> None:
    """ORO's own validator client (oro-sdk) works through a second replica on the same database while
    the agent page is open on the first: the claim, then a scored problem with its uploaded log, show up
    within 2 s each, without a reload."""
    from oro_sdk import BittensorAuthClient
    from oro_sdk.api.validator import claim_work, presign_upload, update_progress
    from oro_sdk.models import (
        PresignUploadRequest,
        ProblemProgressUpdate,
        ProblemStatus,
        ProgressUpdateRequest,
    )

    server, data = site
    env, root, _ = network
    with (
        ServerProcess(env, root / "replica") as other,
        BittensorAuthClient(base_url=other.base_url, wallet=ALICE, timeout=httpx.Timeout(30)) as alice,
        browser.new_context(base_url=server.base_url) as context,
    ):
        watched = Watched(context, server.base_url)
        page = watched.page
        page.goto(f"/dashboard/agents/{data.waiting}")
        page.wait_for_function(LIVE)
        assert page.locator("table.matrix").count() == 0
        claim = claim_work.sync(client=alice, body=None)
        assert claim is not None and str(claim.agent_version_id) == data.waiting
        page.locator("table.runs tbody tr[data-run]").wait_for(timeout=2000)  # the claim shows

        log = gzip.compress(b"problem 0: all good")
        problem = uuid.UUID(data.problem_ids[0])
        request = PresignUploadRequest(
            content_length=len(log),
            eval_run_id=claim.eval_run_id,
            problem_id=problem,
            content_type="application/gzip",
        )
        upload = presign_upload.sync(client=alice, body=request)
        assert upload is not None
        put = httpx.request(
            upload.method, upload.upload_url, content=log, headers={"Content-Type": "application/gzip"}
        )
        assert put.status_code in (200, 201, 204), put.text
        scored = ProblemProgressUpdate(
            problem_id=problem, status=ProblemStatus.SUCCESS, score=0.75, logs_s3_key=upload.results_s3_key
        )
        body = ProgressUpdateRequest(problems=[scored])
        assert update_progress.sync(client=alice, eval_run_id=claim.eval_run_id, body=body) is not None

        cell = page.locator('table.matrix td.cell[data-status="SUCCESS"]')
        cell.wait_for(timeout=2000)
        assert "0.750" in cell.inner_text()
        assert page.locator("[data-progress]").inner_text().startswith("1 / 5")
        page.screenshot(path=str(shots / "agent-live-update-desktop.png"), full_page=True)
        assert watched.clean() == []
        link = cell.get_by_role("link").get_attribute("href")
        assert link is not None
        fetched = httpx.get(server.base_url + link, follow_redirects=True)
        assert fetched.status_code == 200 and fetched.content in (log, gzip.decompress(log))


def test_a_hidden_tab_lets_go_of_its_stream_and_catches_up(
    browser: Any, site: tuple[ServerProcess, Seeded]
) -> None:
    server, _ = site
    visibility = """hidden => {
      Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
      document.dispatchEvent(new Event("visibilitychange"));
    }"""
    with browser.new_context(base_url=server.base_url) as context:
        page = context.new_page()
        page.goto("/dashboard/validators")
        page.wait_for_function(LIVE)
        page.evaluate(visibility, True)
        assert "paused" in page.locator("#live-status").inner_text()
        page.evaluate(visibility, False)
        page.wait_for_function(
            "document.getElementById('live-status').textContent.startsWith('Live · updated')"
        )
