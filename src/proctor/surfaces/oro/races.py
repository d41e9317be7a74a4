"""ORO race routes: the public race reads (`/v1/public/races/*`, reference oro-api §4.1, §7.4) and the
miner's race selection (`/v1/miner/race-selection`, §4.3), and the operator's race routes
(`/v1/admin/races/*`: close-qualifying, current, diagnostics; §9). Each parses, makes one call into
`proctor.core.races.flows`, and renders ORO's shapes (Appendix A `RacePublic`, `RaceQualifierPublic`,
`RaceCurrentResponse`, `RaceDetailResponse`, `RaceHistoryResponse`). Hidden race problems never appear
here: these shapes carry no problems at all."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from proctor.core.admin.audit import Actor
from proctor.core.races import flows
from proctor.http.deps import core_of
from proctor.http.params import Id64, Offset
from proctor.models import Race
from proctor.storage.base import utcnow
from proctor.surfaces.oro.auth import AdminAuth, MinerAuth

public_router = APIRouter(tags=["public"])  # mounted at /v1/public
miner_router = APIRouter(tags=["miner"])  # mounted at /v1/miner
admin_router = APIRouter(tags=["admin"])  # mounted at /v1/admin (PROCTOR_ADMIN_HOTKEYS only)


class RacePublic(BaseModel):
    race_id: uuid.UUID
    suite_id: int
    status: str
    race_number: int | None = None
    qualifying_closes_at: datetime | None = None
    race_started_at: datetime | None = None
    race_completed_at: datetime | None = None
    winner_agent_version_id: uuid.UUID | None = None
    winner_score: float | None = None
    qualifying_threshold: float | None = None
    winner_agent_name: str | None = None
    qualifier_count: int = 0
    created_at: datetime | None = None
    projected_completion_at: datetime | None = None


class RaceQualifierPublic(BaseModel):
    agent_version_id: uuid.UUID
    qualification_type: str
    agent_name: str | None = None
    miner_hotkey: str | None = None
    version_number: int = 0
    qualifying_score: float | None = None
    race_score: float | None = None
    eliminated_at: datetime | None = None
    race_rank: int | None = None
    is_discarded: bool = False


class RaceCurrentResponse(BaseModel):
    race: RacePublic | None = None
    qualifiers: list[RaceQualifierPublic] = []


class RaceDetailResponse(BaseModel):
    race: RacePublic
    qualifiers: list[RaceQualifierPublic] = []


class RaceHistoryResponse(BaseModel):
    total: int
    limit: int
    offset: int
    races: list[RacePublic]


class MinerRaceSelectionRequest(BaseModel):
    agent_version_id: uuid.UUID


def _race(view: flows.RaceView) -> RacePublic:
    race = view.race
    return RacePublic(
        race_id=race.id,
        suite_id=race.suite_id,
        status=race.status,
        race_number=race.number,
        qualifying_closes_at=race.qualifying_closes_at,
        race_started_at=race.race_started_at,
        race_completed_at=race.race_completed_at or race.cancelled_at,
        winner_agent_version_id=race.winner_agent_version_id,
        winner_score=race.winner_score,
        qualifying_threshold=race.qualifying_threshold,
        winner_agent_name=view.winner_name,
        qualifier_count=view.qualifier_count,
        created_at=race.created_at,
        projected_completion_at=race.race_deadline_at if race.status == "RACE_RUNNING" else None,
    )


def _qualifiers(view: flows.RaceView) -> list[RaceQualifierPublic]:
    return [
        RaceQualifierPublic(
            agent_version_id=q.version.id,
            qualification_type=q.row.qualification_type,
            agent_name=q.agent.name,
            miner_hotkey=q.row.miner_hotkey,
            version_number=q.version.version_number,
            qualifying_score=q.row.qualifying_score,
            race_score=q.row.race_score,
            eliminated_at=q.eliminated_at,
            race_rank=q.row.race_rank,
            is_discarded=q.version.state == "DISCARDED",
        )
        for q in view.qualifiers
    ]


@public_router.get("/races/current", response_model=RaceCurrentResponse)
async def get_current_race(request: Request) -> RaceCurrentResponse:
    """The active suite's race in progress, else its latest race (`race` null when it never raced)."""
    view = await flows.current(core_of(request))
    if view is None:
        return RaceCurrentResponse(race=None, qualifiers=[])
    return RaceCurrentResponse(race=_race(view), qualifiers=_qualifiers(view))


@public_router.get("/races/history", response_model=RaceHistoryResponse)
async def get_race_history(
    request: Request,
    suite_id: Id64 | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> RaceHistoryResponse:
    """Completed and cancelled races, most recent first."""
    total, views = await flows.history(core_of(request), suite_id=suite_id, limit=limit, offset=offset)
    return RaceHistoryResponse(total=total, limit=limit, offset=offset, races=[_race(v) for v in views])


@public_router.get("/races/{race_id}", response_model=RaceDetailResponse)
async def get_race_detail(race_id: uuid.UUID, request: Request) -> RaceDetailResponse:
    """One race with its qualifiers and results (404 RACE_NOT_FOUND)."""
    view = await flows.detail(core_of(request), race_id=race_id)
    return RaceDetailResponse(race=_race(view), qualifiers=_qualifiers(view))


@miner_router.put("/race-selection", status_code=204, response_class=Response)
async def set_race_selection(
    body: MinerRaceSelectionRequest, request: Request, principal: MinerAuth
) -> Response:
    """Pin an agent version as this miner's race candidate (403 NOT_VERSION_OWNER, 409 RACE_LOCKED)."""
    await flows.pin(core_of(request), hotkey=principal.hotkey, version_id=body.agent_version_id, now=utcnow())
    return Response(status_code=204)


@miner_router.delete("/race-selection", status_code=204, response_class=Response)
async def clear_race_selection(request: Request, principal: MinerAuth) -> Response:
    """Clear the pin so the best eligible version races (404 NO_SELECTION, 409 RACE_LOCKED)."""
    await flows.unpin(core_of(request), hotkey=principal.hotkey)
    return Response(status_code=204)


# --- admin ----------------------------------------------------------------------------------------------


class CloseQualifyingResponse(BaseModel):
    race_id: uuid.UUID
    previous_closes_at: datetime
    new_closes_at: datetime
    status: str


class RaceSummary(BaseModel):
    race_id: uuid.UUID
    suite_id: int
    status: str
    race_number: int | None = None
    qualifying_closes_at: datetime | None = None
    race_started_at: datetime | None = None
    race_completed_at: datetime | None = None
    winner_agent_version_id: uuid.UUID | None = None
    winner_score: float | None = None
    qualifier_count: int = 0
    work_item_count: int = 0


class CurrentRacesResponse(BaseModel):
    races: list[RaceSummary]


class RaceQualifierEntry(BaseModel):
    agent_version_id: uuid.UUID
    qualification_type: str
    agent_name: str | None = None
    miner_hotkey: str | None = None
    version_number: int = 0
    qualifying_score: float | None = None
    race_score: float | None = None
    eliminated_at: datetime | None = None


class RaceWorkItemEntry(BaseModel):
    agent_version_id: uuid.UUID
    phase: str
    is_closed: bool
    is_cancelled: bool
    included_success_count: int
    active_count: int
    required_successes: int
    agent_name: str | None = None


class RaceDiagnosticsResponse(RaceSummary):
    qualifying_threshold: float | None = None
    incumbent_agent_version_id: uuid.UUID | None = None
    problem_seed: str | None = None
    problem_count: int = 0
    qualifiers: list[RaceQualifierEntry] = []
    work_items: list[RaceWorkItemEntry] = []


def _summary(race: Race, qualifiers: int, work_items: int) -> dict[str, Any]:
    return {
        "race_id": race.id,
        "suite_id": race.suite_id,
        "status": race.status,
        "race_number": race.number,
        "qualifying_closes_at": race.qualifying_closes_at,
        "race_started_at": race.race_started_at,
        "race_completed_at": race.race_completed_at or race.cancelled_at,
        "winner_agent_version_id": race.winner_agent_version_id,
        "winner_score": race.winner_score,
        "qualifier_count": qualifiers,
        "work_item_count": work_items,
    }


@admin_router.post("/races/close-qualifying", response_model=CloseQualifyingResponse)
async def close_qualifying(request: Request, principal: AdminAuth) -> CloseQualifyingResponse:
    """Close the active suite's qualifying now and start the race (409 RACE_RUNNING, NO_QUALIFIERS,
    RACE_BANK_EMPTY); audited."""
    closed = await flows.close_qualifying_now(
        core_of(request), actor=Actor(principal.hotkey, "http"), now=utcnow()
    )
    return CloseQualifyingResponse(
        race_id=closed.race_id,
        previous_closes_at=closed.previous_closes_at,
        new_closes_at=closed.new_closes_at,
        status=closed.status,
    )


@admin_router.get("/races/current", response_model=CurrentRacesResponse)
async def current_races(request: Request, principal: AdminAuth) -> CurrentRacesResponse:
    """Every open race (qualifying or running) with its qualifier and work-item counts."""
    found = await flows.active_races(core_of(request))
    return CurrentRacesResponse(
        races=[RaceSummary(**_summary(r.race, r.qualifier_count, r.work_item_count)) for r in found]
    )


@admin_router.get("/races/{race_id}/diagnostics", response_model=RaceDiagnosticsResponse)
async def race_diagnostics(
    race_id: uuid.UUID, request: Request, principal: AdminAuth
) -> RaceDiagnosticsResponse:
    """One race's qualifiers and RACE work items with their counters (404 RACE_NOT_FOUND)."""
    d = await flows.diagnostics(core_of(request), race_id=race_id)
    race = d.view.race
    return RaceDiagnosticsResponse(
        **_summary(race, d.view.qualifier_count, len(d.work_items)),
        qualifying_threshold=race.qualifying_threshold,
        incumbent_agent_version_id=d.incumbent,
        problem_count=d.problem_count,
        qualifiers=[
            RaceQualifierEntry(
                agent_version_id=q.version.id,
                qualification_type=q.row.qualification_type,
                agent_name=q.agent.name,
                miner_hotkey=q.row.miner_hotkey,
                version_number=q.version.version_number,
                qualifying_score=q.row.qualifying_score,
                race_score=q.row.race_score,
                eliminated_at=q.eliminated_at,
            )
            for q in d.view.qualifiers
        ],
        work_items=[
            RaceWorkItemEntry(
                agent_version_id=w.item.agent_version_id,
                phase=w.item.phase,
                is_closed=w.item.status != "OPEN",
                is_cancelled=w.item.status == "DISCARDED",
                included_success_count=w.item.success_count,
                active_count=w.item.active_count,
                required_successes=w.item.required_successes,
                agent_name=w.agent_name,
            )
            for w in d.work_items
        ],
    )
