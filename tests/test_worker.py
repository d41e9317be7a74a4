"""`proctor worker` runs the periodic jobs on its own: here it reaps a lapsed evaluation lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from proctor.core.evaluations import flows
from proctor.models import EvaluationRun
from tests.support.world import make_world, miner


async def test_worker_reaps_expired_leases(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    async for world in make_world(url, tmp_path, eval_lease_seconds=1):
        await world.submit(miner(1), now=datetime.now(UTC) - timedelta(minutes=10))
        claim = await flows.claim_work(
            world.core,
            validator="val-a",
            report=None,
            now=datetime.now(UTC) - timedelta(minutes=5),
            base_url="http://t",
        )
        assert claim is not None
        env = {
            **os.environ,
            "PROCTOR_DATABASE_URL": url,
            "PROCTOR_DATA_DIR": str(tmp_path / "data"),
            "PROCTOR_REAPER_INTERVAL_SECONDS": "0.2",
            "PROCTOR_LOG_LEVEL": "WARNING",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "proctor", "worker"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            status = "CLAIMED"
            while status != "STALE":
                assert time.monotonic() < deadline, "the worker never reaped the lease"
                time.sleep(0.3)
                async with world.sessionmaker() as s:
                    status = await s.scalar(
                        select(EvaluationRun.status).where(EvaluationRun.id == claim.run.id)
                    )
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=20)[0].decode()
        assert worker.returncode == 0, output


def test_one_of_several_workers_holds_the_job_lock_until_it_exits(tmp_path: Path) -> None:
    from proctor.app import take_lock

    path = tmp_path / "data" / "jobs.lock"
    first = take_lock(path)
    assert first is not None, "the first worker is elected"
    assert take_lock(path) is None, "a second worker (another open file) is not"
    first.close()  # the elected worker exits
    second = take_lock(path)
    assert second is not None, "its replacement takes over"
    second.close()
