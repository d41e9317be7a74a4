"""bench/chaos.py, bounded: two replicas on a private PostgreSQL, Redis and S3 under mixed load while
each fault is injected once (kill -9 of a replica, PostgreSQL restart, Redis restart, the database
paused, a slow blob store). Nothing acknowledged may be lost, nothing held by two owners at once,
no orphan left unreaped, no cooldown or nonce bypassed on the other replica, and no answer a 500.

The services are the test's own (started on free ports and removed after), never the shared ones.
Without initdb or redis-server the test skips, except under CI=true where it fails."""

from __future__ import annotations

import pytest
from bench import chaos

from tests.support import services

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chaos")]


def test_two_replicas_keep_every_acknowledged_write_through_every_fault() -> None:
    problem = chaos.services_available()
    if problem:
        services.unavailable("a private PostgreSQL cluster and Redis server", problem)
    plan = chaos.Plan(
        validators=4,
        miners=8,
        compute_miners=2,
        pool_miners=2,
        readers=1,
        work_items=300,
        settle=5.0,
        # In CI this runs beside another xdist worker on 2 cores: a reaper tick starved of CPU (seen
        # once: a Pool lease returned 6.9 s after expiry) costs one more period. bench/chaos.py on a
        # machine of its own keeps the bound at two.
        late_periods=3,
    )
    ledger, result, _ = chaos.chaos(plan)

    assert [f.name.split()[0] for f in ledger.faults] == ["kill", "PostgreSQL", "Redis", "database", "slow"]
    for kind in ("oro.submit", "oro.complete", "compute.complete", "pool.submit"):
        assert ledger.acked[kind], f"the load never acknowledged a {kind}"
    assert ledger.abandoned["oro"] or ledger.abandoned["pool"], "no lease was orphaned to reap"
    assert chaos.verdict(ledger, result) == []
    assert sum(result["lost"].values()) == 0
    assert result["doubles_seen"] == [] and sum(result["doubles_db"].values()) == 0
