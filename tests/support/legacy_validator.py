"""Run by tests in a child process whose import path puts `oro-sdk==1.0.50` first (the version ORO's
published validator pins): claim, heartbeat, problems, progress, complete, as that validator does.

Usage: python legacy_validator.py BASE_URL KEY_URI SCORE  → prints one JSON line with what it saw.
"""

from __future__ import annotations

import json
import sys

import oro_sdk
from bittensor_wallet import Keypair
from oro_sdk import BittensorAuthClient
from oro_sdk.api.validator import claim_work, complete_run, get_run_problems, heartbeat, update_progress
from oro_sdk.models import (
    CompleteRunRequest,
    HeartbeatRequest,
    ProblemProgressUpdate,
    ProblemStatus,
    ProgressUpdateRequest,
    TerminalStatus,
)


def main(base_url: str, uri: str, score: float) -> dict[str, object]:
    client = BittensorAuthClient(base_url=base_url, wallet=Keypair.create_from_uri(uri))
    claim = claim_work.sync(client=client, body=HeartbeatRequest(cpu_pct=5.0))
    if claim is None:
        return {"claimed": False}
    beat = heartbeat.sync(client=client, eval_run_id=claim.eval_run_id, body=HeartbeatRequest(cpu_pct=6.0))
    problems = get_run_problems.sync(client=client, eval_run_id=claim.eval_run_id)
    assert problems is not None
    updates = [
        ProblemProgressUpdate(problem_id=p.problem_id, status=ProblemStatus.SUCCESS, score=score)
        for p in problems.problems
    ]
    progress = update_progress.sync(
        client=client, eval_run_id=claim.eval_run_id, body=ProgressUpdateRequest(problems=updates)
    )
    done = complete_run.sync(
        client=client,
        eval_run_id=claim.eval_run_id,
        body=CompleteRunRequest(terminal_status=TerminalStatus.SUCCESS, validator_score=score),
    )
    return {
        "sdk": oro_sdk.__file__,
        "claimed": True,
        "chutes_access_token": claim.chutes_access_token
        if isinstance(claim.chutes_access_token, str)
        else None,
        "heartbeat": beat is not None,
        "problems": len(problems.problems),
        "progress": progress is not None,
        "eligible": bool(done and done.agent_version_became_eligible),
        "final_score": done.final_score if done else None,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], float(sys.argv[3]))))
