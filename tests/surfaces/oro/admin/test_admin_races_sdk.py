"""The three race admin operations of `oro-sdk==1.0.78` (races close-qualifying, current, diagnostics)
through ORO's own client against a live `proctor serve`, on SQLite and on PostgreSQL + Redis: each
answer parses into the SDK's model, a non-admin key gets 403, and closing qualifying leaves exactly
one audit event (a refused close leaves none)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from oro_sdk.api.admin import close_qualifying, get_audit_events, get_current_races, get_race_diagnostics
from oro_sdk.models import CloseQualifyingResponse, CurrentRacesResponse, RaceDiagnosticsResponse

from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE
from tests.support.suites import oro_problems, write_oro_suite
from tests.surfaces.oro.admin.test_admin_sdk import env as env  # noqa: F401  (the SQLite/PG fixture)
from tests.surfaces.oro.admin.test_admin_sdk import signed
from tests.surfaces.oro.test_sdk_cycle import cli
from tests.surfaces.oro.test_sdk_races import evaluate, submit

pytestmark = pytest.mark.slow


def test_race_admin_operations_parse_are_audited_and_refuse_non_admins(
    env: dict[str, str],  # noqa: F811
    start_server: Callable[[dict[str, str]], ServerProcess],
    tmp_path: Path,
) -> None:
    env = {**env, "PROCTOR_RACE_REQUIRED_SUCCESSES": "1", "PROCTOR_RACE_QUALIFYING_SECONDS": "86400"}
    server = start_server(env)
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")
    hidden = oro_problems(2)
    for p in hidden:
        p["query"] = "RACE ONLY " + str(p["query"])
    (tmp_path / "bank.json").write_text(json.dumps(hidden))
    cli(env, "admin", "race", "import-bank", str(tmp_path / "bank.json"), "--suite-id", "1")

    admin, alice = signed(server, DAVE), signed(server, ALICE)
    bob, charlie = signed(server, BOB), signed(server, CHARLIE)
    calls = [
        lambda c: close_qualifying.sync_detailed(client=c),
        lambda c: get_current_races.sync_detailed(client=c),
        lambda c: get_race_diagnostics.sync_detailed(uuid.uuid4(), client=c),
    ]
    for client in (bob, alice):  # a miner and a validator: signed and registered, but not admins
        for call in calls:
            assert call(client).status_code == 403

    empty = get_current_races.sync_detailed(client=admin)
    assert empty.status_code == 200 and isinstance(empty.parsed, CurrentRacesResponse)
    assert empty.parsed.races == []
    early = close_qualifying.sync_detailed(client=admin)
    assert early.status_code == 409 and json.loads(early.content)["error_code"] == "NO_QUALIFIERS"

    vb, vc = submit(bob, "bob agent"), submit(charlie, "charlie agent")
    evaluate(alice, {vb: 0.5, vc: 0.6})
    evaluate(alice, {vb: 0.5, vc: 0.6})

    closed = close_qualifying.sync_detailed(client=admin)
    assert closed.status_code == 200, closed.content
    assert isinstance(closed.parsed, CloseQualifyingResponse)
    assert closed.parsed.status == "RACE_RUNNING"
    assert closed.parsed.new_closes_at <= closed.parsed.previous_closes_at
    race_id = closed.parsed.race_id
    again = close_qualifying.sync_detailed(client=admin)
    assert again.status_code == 409 and json.loads(again.content)["error_code"] == "RACE_RUNNING"

    current = get_current_races.sync(client=admin)
    assert current is not None and [r.race_id for r in current.races] == [race_id]
    summary = current.races[0]
    assert (summary.status, summary.qualifier_count, summary.work_item_count) == ("RACE_RUNNING", 2, 2)

    diag = get_race_diagnostics.sync_detailed(race_id, client=admin)
    assert diag.status_code == 200 and isinstance(diag.parsed, RaceDiagnosticsResponse), diag.content
    d = diag.parsed
    assert (d.race_id, d.suite_id, d.status, d.race_number, d.problem_count) == (
        race_id,
        1,
        "RACE_RUNNING",
        1,
        2,
    )
    assert {q.agent_version_id for q in d.qualifiers} == {vb, vc}
    incumbent = [q.agent_version_id for q in d.qualifiers if q.qualification_type == "INCUMBENT"]
    assert incumbent == [d.incumbent_agent_version_id], "the top agent races as the incumbent"
    assert sorted((w.agent_version_id, w.phase, w.is_closed) for w in d.work_items) == sorted(
        [(vb, "RACE", False), (vc, "RACE", False)]
    )
    assert all(w.required_successes == 1 and w.included_success_count == 0 for w in d.work_items)

    # A race run moves the counters diagnostics shows.
    evaluate(alice, {vb: 0.9, vc: 0.4})
    after = get_race_diagnostics.sync(race_id, client=admin)
    assert after is not None
    assert sorted(w.included_success_count for w in after.work_items) == [0, 1]
    missing = get_race_diagnostics.sync_detailed(uuid.uuid4(), client=admin)
    assert missing.status_code == 404 and json.loads(missing.content)["error_code"] == "RACE_NOT_FOUND"

    trail = get_audit_events.sync(client=admin, action="CLOSE_QUALIFYING")
    assert trail is not None and trail.total == 1, "one event for the close; none for the refusals"
    event = trail.events[0]
    assert (event.target_type, event.target_id, event.actor_hotkey) == (
        "race",
        str(race_id),
        DAVE.ss58_address,
    )
    assert event.details["after"]["status"] == "RACE_RUNNING"
