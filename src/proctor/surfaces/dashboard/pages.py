"""Dashboard pages: parse the query, make one call into the core's dashboard views, render HTML.

A page asked with `X-Dashboard-Fragment: 1` answers only its `live` block: the page's script swaps it
in when a live event concerns the page, so the same template serves the first load and every update.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from proctor.core.dashboard import live, views
from proctor.errors import NotFound, ProctorError
from proctor.http.deps import core_of, public_base_url
from proctor.storage.base import utcnow
from proctor.surfaces.dashboard import charts
from proctor.surfaces.dashboard.rendering import cached_fragment, render

PAGE_SIZES = (25, 50, 100)
RACE_HISTORY_PAGE = 20
KEEPALIVE_SECONDS = 15.0

router = APIRouter(include_in_schema=False)  # mounted at /dashboard
router.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="dashboard-static")


def error_page(request: Request, error: ProctorError) -> HTMLResponse:
    return render(request, "error.html", status=error.status, error=error, title=f"Error {error.status}")


def _int(value: str | None, default: int, *, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value))) if value is not None else default
    except ValueError:
        return default


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"No {what} has the id {value[:64]!r}") from None


# --- pages ---------------------------------------------------------------------------------------------


async def home(request: Request) -> HTMLResponse:
    """The leaderboard: search by agent name or hotkey prefix, paged; ranked by final score or by the
    latest completed race (`score_type=race`, offered once a race has completed)."""
    if (shared := cached_fragment(request)) is not None:
        return shared
    q = (request.query_params.get("q") or "").strip()[:100]
    per_page = _int(request.query_params.get("per_page"), PAGE_SIZES[0], low=1, high=PAGE_SIZES[-1])
    page = _int(request.query_params.get("page"), 1, low=1, high=1_000_000)
    score_type = request.query_params.get("score_type", "qualifying")
    if score_type not in views.SCORE_TYPES or not _races_mounted(request):
        score_type = "qualifying"
    view = await views.leaderboard(
        core_of(request),
        q=q,
        limit=per_page,
        offset=(page - 1) * per_page,
        now=utcnow(),
        score_type=score_type,
    )
    histogram = (
        charts.histogram(view.histogram.low, view.histogram.high, view.histogram.counts)
        if view.histogram
        else []
    )
    markers, path = charts.step_line([(p.at, p.score, p.agent_name) for p in view.top_history])
    return render(
        request,
        "leaderboard.html",
        title="Leaderboard",
        view=view,
        page_number=page,
        per_page=per_page,
        page_sizes=PAGE_SIZES,
        bars=histogram,
        top_markers=markers,
        top_path=path,
        chart=charts,
    )


router.add_api_route("/leaderboard", home, methods=["GET"])


@router.get("/")
async def dashboard_root(request: Request) -> RedirectResponse:
    """`/dashboard/` is the leaderboard at `/`."""
    return RedirectResponse(request.scope.get("app_root_path", "") + "/", status_code=307)


@router.get("/agents/{version_id}", response_class=HTMLResponse)
async def agent_page(version_id: str, request: Request) -> HTMLResponse:
    """One agent version: status, counters, its races, the problem × validator matrix, its runs (all, or
    one phase's: `phase=qualifying|race`)."""
    if (shared := cached_fragment(request)) is not None:
        return shared
    phase = request.query_params.get("phase", "all")
    try:
        view = await views.agent(
            core_of(request),
            version_id=_uuid(version_id, "agent version"),
            now=utcnow(),
            phase=phase if phase in views.PHASES else "all",
        )
    except ProctorError as error:
        return error_page(request, error)
    title = f"{view.agent.name} v{view.version.version_number}"
    return render(request, "agent.html", title=title, view=view)


@router.get("/agents/{version_id}/source", response_class=HTMLResponse)
async def agent_source(version_id: str, request: Request) -> HTMLResponse:
    """A released agent's code, shown as text."""
    try:
        version = _uuid(version_id, "agent version")
        view = await views.agent_code(core_of(request), version_id=version, now=utcnow())
    except ProctorError as error:
        return error_page(request, error)
    title = f"{view.agent.name} v{view.version.version_number}: code"
    return render(request, "source.html", title=title, view=view)


@router.get("/agents/{version_id}/code")
async def agent_code(version_id: str, request: Request) -> Response:
    """Download a released agent's code (a redirect to a short-lived URL)."""
    return await _artifact(request, "AGENT_CODE", version_id, None, None)


@router.get("/agents/{version_id}/runs/{run_id}/problems/{problem_id}/logs")
async def problem_logs(version_id: str, run_id: str, problem_id: str, request: Request) -> Response:
    """Download one problem's logs from one run (a redirect to a short-lived URL)."""
    return await _artifact(request, "EVAL_PROBLEM_LOGS", version_id, run_id, problem_id)


async def _artifact(
    request: Request, kind: str, version_id: str, run_id: str | None, problem_id: str | None
) -> Response:
    try:
        url = await views.artifact_url(
            core_of(request),
            artifact_type=kind,
            version_id=_uuid(version_id, "agent version"),
            run_id=_uuid(run_id, "run") if run_id else None,
            problem_id=_uuid(problem_id, "problem") if problem_id else None,
            base_url=public_base_url(request),
            now=utcnow(),
        )
    except ProctorError as error:
        return error_page(request, error)
    return RedirectResponse(url, status_code=303)


def _races_mounted(request: Request) -> bool:
    return "oro" in core_of(request).settings.surfaces


_NO_RACES = NotFound("Races are part of the ORO surface, which is not mounted on this server")


@router.get("/races", response_class=HTMLResponse)
async def races_page(request: Request) -> HTMLResponse:
    """The current race (else the latest): its qualifiers and their race runs, updating live."""
    if not _races_mounted(request):
        return error_page(request, _NO_RACES)
    if (shared := cached_fragment(request)) is not None:
        return shared
    race = await views.race(core_of(request), race_id=None)
    return render(request, "race.html", title="Races", race=race, current=True)


@router.get("/races/history", response_class=HTMLResponse)
async def race_history_page(request: Request) -> HTMLResponse:
    """Completed and cancelled races, most recent first, paged."""
    if not _races_mounted(request):
        return error_page(request, _NO_RACES)
    if (shared := cached_fragment(request)) is not None:
        return shared
    page = _int(request.query_params.get("page"), 1, low=1, high=1_000_000)
    total, rows = await views.race_history(
        core_of(request), limit=RACE_HISTORY_PAGE, offset=(page - 1) * RACE_HISTORY_PAGE
    )
    pages = max(1, -(-total // RACE_HISTORY_PAGE))
    return render(
        request, "race_history.html", title="Race history", rows=rows, total=total, page=page, pages=pages
    )


@router.get("/races/{race_id}", response_class=HTMLResponse)
async def race_page(race_id: str, request: Request) -> HTMLResponse:
    """One race: its qualifiers, race scores, ranks and runs (live while it runs)."""
    if not _races_mounted(request):
        return error_page(request, _NO_RACES)
    if (shared := cached_fragment(request)) is not None:
        return shared
    try:
        race = await views.race(core_of(request), race_id=_uuid(race_id, "race"))
    except ProctorError as error:
        return error_page(request, error)
    assert race is not None
    return render(request, "race.html", title=f"Race {race.view.race.number}", race=race, current=False)


@router.get("/validators", response_class=HTMLResponse)
async def validators_page(request: Request) -> HTMLResponse:
    """Validators with a permit: stake, last seen, runs done, failure rate, service versions."""
    if (shared := cached_fragment(request)) is not None:
        return shared
    rows = await views.validators(core_of(request))
    return render(request, "validators.html", title="Validators", rows=rows)


@router.get("/evaluations", response_class=HTMLResponse)
async def evaluations_page(request: Request) -> HTMLResponse:
    """Runs in progress and the open queue, updating live."""
    if (shared := cached_fragment(request)) is not None:
        return shared
    view = await views.evaluations(core_of(request), limit=50, now=utcnow())
    bars = charts.columns([n for _, n in view.hourly], [f"{at:%H}:00" for at, _ in view.hourly])
    return render(request, "evaluations.html", title="Evaluations", view=view, bars=bars, chart=charts)


@router.get("/rewards", response_class=HTMLResponse)
async def rewards_page(request: Request) -> HTMLResponse:
    """Published reward epochs, and a hotkey's proof package in the newest one."""
    if (shared := cached_fragment(request)) is not None:
        return shared
    hotkey = (request.query_params.get("hotkey") or "").strip()[:64]
    view = await views.rewards(core_of(request), hotkey=hotkey)
    package = json.dumps(view.package.__dict__, indent=2) if view.package else None
    return render(request, "rewards.html", title="Rewards", view=view, package_json=package)


@router.get("/compute", response_class=HTMLResponse)
async def compute_page(request: Request) -> HTMLResponse:
    """GPU miners and the job queue (only when the compute surface is mounted)."""
    if "compute" not in core_of(request).settings.surfaces:
        return error_page(request, NotFound("The compute surface is not mounted on this server"))
    view = await views.compute(core_of(request), limit=50)
    return render(request, "compute.html", title="Compute", view=view)


@router.get("/events")
async def events(request: Request) -> StreamingResponse:
    """Server-Sent Events: every live change, each with the topics a page filters on."""
    hub = live.hub_of(core_of(request))

    async def stream() -> AsyncIterator[str]:
        subscription = hub.subscribe()
        try:
            await hub.ready()  # the first byte (the browser's "open") means later changes will arrive
            yield "retry: 2000\n\n"
            while True:
                event = await subscription.next(KEEPALIVE_SECONDS)
                if event is None:
                    yield ": keep-alive\n\n"
                    continue
                yield f"id: {event.id}\ndata: {json.dumps(event.as_json())}\n\n"
        finally:
            subscription.close()

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
