"""Every row of the hostile-input corpus against a live `proctor serve`: a 4xx in the surface's own error
shape, no stack trace, nothing stored (every table's row count and the blob store's files unchanged),
nothing logged as an unhandled error, and the server still answering. SQLite runs every row; the rows
that reach storage (or carry values PostgreSQL treats differently, such as NUL) run on PostgreSQL too."""

from __future__ import annotations

import pytest

from tests.hostile import harness
from tests.hostile.corpus import CASES, Case, ids
from tests.hostile.harness import Answer, Live, Snapshot


def unhandled_errors(live: Live) -> int:
    return live.server.log().count("request.unhandled_error")


def check_refused(live: Live, case: Case) -> Answer:
    before, errors_before = Snapshot.take(live), unhandled_errors(live)
    answer = harness.send(live, case)
    assert 400 <= answer.status < 500, f"{case.id}: HTTP {answer.status} {answer.text[:600]}"
    if case.expect is not None:
        assert answer.status in case.expect, f"{case.id}: HTTP {answer.status} {answer.text[:300]}"
    problem = harness.envelope_problem(case.surface, answer.status, answer.text)
    assert problem is None, f"{case.id}: {problem}"
    changes = before.changes(Snapshot.take(live))
    for table in case.audit:  # one audit row of the refusal, nothing else
        if changes.get("rows", {}).get(table, (0, 0))[1] == before.rows.get(table, 0) + 1:
            changes["rows"].pop(table)
    changes = {k: v for k, v in changes.items() if v}
    assert not changes, f"{case.id} stored something: {changes}"
    assert unhandled_errors(live) == errors_before, live.server.log()[-3000:]
    harness.still_answers(live.url)
    return answer


@pytest.mark.parametrize("case", CASES, ids=ids())
def test_refused_on_sqlite(live_sqlite: Live, case: Case) -> None:
    check_refused(live_sqlite, case)


STORAGE_CASES = [c for c in CASES if c.storage]


@pytest.mark.postgres
@pytest.mark.parametrize("case", STORAGE_CASES, ids=[c.id for c in STORAGE_CASES])
def test_refused_on_postgres(live_postgres: Live, case: Case) -> None:
    check_refused(live_postgres, case)
