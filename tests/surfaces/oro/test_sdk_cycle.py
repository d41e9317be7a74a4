"""The ORO miner and validator surfaces driven by ORO's own client, `oro-sdk==1.0.78`, against real
`proctor serve` processes, on SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from oro_sdk import BittensorAuthClient, Client
from oro_sdk.api.miner import (
    get_chutes_auth_status,
    get_inference_auth_status_one,
    get_owned_agent_version_status,
    list_agent_versions,
    list_inference_auth,
    list_miner_agents,
    set_default_inference_provider,
    store_inference_credential,
    submit_agent,
)
from oro_sdk.api.public import (
    get_agent_version,
    get_agent_version_problems,
    get_agent_version_runs,
    get_agent_version_status,
    get_artifact_download_url,
    get_evaluation_run,
    get_leaderboard,
    get_pending_evaluations,
    get_running_evaluations,
    get_top_agent,
    get_top_history,
    get_validators,
)
from oro_sdk.api.validator import (
    claim_work,
    complete_run,
    get_run_problems,
    heartbeat,
    presign_upload,
    update_progress,
)
from oro_sdk.models import (
    ArtifactDownloadRequest,
    ArtifactType,
    BodySubmitAgent,
    CodeAnalysisError,
    CompleteRunRequest,
    CooldownActiveError,
    FileTooLargeError,
    HeartbeatRequest,
    HeartbeatRequestServiceVersionsType0,
    InvalidAgentNameError,
    NoActiveSuiteError,
    PresignUploadRequest,
    ProblemProgressUpdate,
    ProblemStatus,
    ProgressUpdateRequest,
    RunAlreadyCompleteError,
    SetDefaultProviderRequest,
    StoreInferenceCredentialRequest,
    TerminalStatus,
)
from oro_sdk.types import File

from tests.support import agents, services
from tests.support.provider_double import CHUTES_CLIENT_ID, ProviderDouble
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, CHARLIE, EVE
from tests.support.suites import write_oro_suite

pytestmark = pytest.mark.slow


@pytest.fixture
def provider() -> Iterator[ProviderDouble]:
    double = ProviderDouble().start()
    double.state.refresh_tokens.add("rt-good")
    yield double
    double.stop()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def env(
    request: pytest.FixtureRequest, server_env: dict[str, str], provider: ProviderDouble
) -> dict[str, str]:
    values = {
        **server_env,
        "PROCTOR_RATE_LIMIT_SUBMIT": "1000/minute",
        "PROCTOR_CODE_RELEASE_DELAY_SECONDS": "3",
        "PROCTOR_SECRET_KEY": "sdk-cycle-test-secret-key-0123456789abcdef",
        "PROCTOR_CHUTES_API_URL": provider.base_url,
        "PROCTOR_CHUTES_INFERENCE_URL": provider.base_url + "/chutes/v1",
        "PROCTOR_CHUTES_CLIENT_ID": CHUTES_CLIENT_ID,
    }
    if request.param != "sqlite":
        dbs: services.PostgresDatabases = request.getfixturevalue("pg")
        values["PROCTOR_DATABASE_URL"] = dbs.url(services.blocking(dbs.create()))
        values["PROCTOR_REDIS_URL"] = request.getfixturevalue("redis_url")
    return values


def cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def signed(server: ServerProcess, key: Any) -> BittensorAuthClient:
    return BittensorAuthClient(base_url=server.base_url, wallet=key, timeout=httpx.Timeout(30))


def body(name: str, content: bytes) -> BodySubmitAgent:
    return BodySubmitAgent(
        agent_name=name,
        file=File(payload=io.BytesIO(content), file_name="agent.py", mime_type="text/x-python"),
    )


def test_miner_answers_parse_in_the_sdk(
    env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    server = start_server(env)
    bob = signed(server, BOB)
    closed = submit_agent.sync_detailed(client=bob, body=body("early", agents.valid_agent()))
    assert closed.status_code == 503 and isinstance(closed.parsed, NoActiveSuiteError)
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 5)), "--activate")

    bad_name = submit_agent.sync_detailed(client=bob, body=body("bad/name", agents.valid_agent()))
    assert isinstance(bad_name.parsed, InvalidAgentNameError)
    too_big = submit_agent.sync_detailed(client=bob, body=body("big", b"#" * (1024 * 1024 + 1)))
    assert too_big.status_code == 413 and isinstance(too_big.parsed, FileTooLargeError)
    charlie = signed(server, CHARLIE)
    violation = submit_agent.sync_detailed(client=charlie, body=body("bad", agents.SECURITY_VIOLATION))
    assert isinstance(violation.parsed, CodeAnalysisError)
    assert violation.parsed.violations and violation.parsed.remaining_seconds == 900
    assert violation.parsed.violations[0].additional_properties["rule"] == "forbidden-import"

    accepted = submit_agent.sync(client=bob, body=body("good", agents.valid_agent()))
    assert accepted is not None and accepted.admission_status.value == "ACCEPTED"
    cooling = submit_agent.sync_detailed(client=bob, body=body("good", agents.valid_agent()))
    assert cooling.status_code == 429 and isinstance(cooling.parsed, CooldownActiveError)
    assert cooling.parsed.remaining_seconds > 40_000

    mine = list_miner_agents.sync(client=bob)
    assert mine is not None and mine.can_submit is False and mine.agents[0].latest_version is not None
    versions = list_agent_versions.sync(client=bob, agent_id=mine.agents[0].agent_id)
    assert versions and versions[0].version_number == 1
    own = get_owned_agent_version_status.sync(client=bob, agent_version_id=accepted.agent_version_id)
    assert own is not None and own.state.value == "QUEUED"
    public = Client(base_url=server.base_url)
    assert get_agent_version.sync(client=public, agent_version_id=accepted.agent_version_id) is not None
    assert (
        get_agent_version_status.sync(client=public, agent_version_id=accepted.agent_version_id) is not None
    )

    assert list_inference_auth.sync(client=bob).providers == []  # type: ignore[union-attr]
    refused = store_inference_credential.sync_detailed(
        client=bob, provider="chutes", body=StoreInferenceCredentialRequest(credential="rt-bad")
    )
    assert refused.status_code == 400
    stored = store_inference_credential.sync(
        client=bob, provider="chutes", body=StoreInferenceCredentialRequest(credential="rt-good")
    )
    assert stored is not None and "rt-good" not in str(stored.additional_properties)
    status = get_inference_auth_status_one.sync(client=bob, provider="chutes")
    assert status is not None and status.connected is True
    assert get_chutes_auth_status.sync(client=bob).connected is True  # type: ignore[union-attr]
    listed = list_inference_auth.sync(client=bob)
    assert listed is not None and listed.default_provider == "chutes"
    assert (
        set_default_inference_provider.sync_detailed(
            client=bob, body=SetDefaultProviderRequest(provider="openrouter")
        ).status_code
        == 404
    )


def test_full_evaluation_cycle(
    env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    server = start_server(env)
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 4)), "--activate")
    bob = signed(server, BOB)
    assert (
        store_inference_credential.sync(
            client=bob, provider="chutes", body=StoreInferenceCredentialRequest(credential="rt-good")
        )
        is not None
    )
    accepted = submit_agent.sync(client=bob, body=body("cycle", agents.valid_agent()))
    assert accepted is not None and accepted.agent_version_id
    version_id = accepted.agent_version_id

    scores = {}
    for validator, score in ((ALICE, 0.6), (EVE, 0.8)):
        client = signed(server, validator)
        versions = HeartbeatRequestServiceVersionsType0.from_dict({"validator": "sha256:0123456789"})
        claim = claim_work.sync(client=client, body=HeartbeatRequest(service_versions=versions, cpu_pct=10.0))
        assert claim is not None and claim.agent_version_id == version_id
        grant = claim.inference_token
        assert grant is not None and grant.provider.value == "chutes" and grant.access_token
        assert claim.additional_properties["chutes_access_token"] == grant.access_token
        code = httpx.get(claim.code_download_url)
        assert code.status_code == 200 and b"def agent_main" in code.content

        beat = heartbeat.sync(
            client=client, eval_run_id=claim.eval_run_id, body=HeartbeatRequest(ram_pct=20.0)
        )
        assert beat is not None and beat.lease_expires_at >= claim.lease_expires_at
        problems = get_run_problems.sync(client=client, eval_run_id=claim.eval_run_id)
        assert problems is not None and len(problems.problems) == 4
        assert "reward" in problems.problems[0].metadata.additional_properties  # type: ignore[union-attr]

        scored = [
            ProblemProgressUpdate(problem_id=p.problem_id, status=ProblemStatus.SUCCESS, score=score)
            for p in problems.problems
        ]
        assert (
            update_progress.sync(
                client=client, eval_run_id=claim.eval_run_id, body=ProgressUpdateRequest(problems=scored)
            )
            is not None
        )
        log = gzip.compress(b"problem log")
        first = problems.problems[0].problem_id
        upload = presign_upload.sync(
            client=client,
            body=PresignUploadRequest(
                content_length=len(log),
                eval_run_id=claim.eval_run_id,
                problem_id=first,
                content_type="application/gzip",
            ),
        )
        assert upload is not None
        put = httpx.request(
            upload.method, upload.upload_url, content=log, headers={"Content-Type": "application/gzip"}
        )
        assert put.status_code in (200, 201, 204), put.text
        logs_only = [
            ProblemProgressUpdate(
                problem_id=first, status=ProblemStatus.SUCCESS, logs_s3_key=upload.results_s3_key
            )
        ]
        assert (
            update_progress.sync(
                client=client, eval_run_id=claim.eval_run_id, body=ProgressUpdateRequest(problems=logs_only)
            )
            is not None
        )
        done = complete_run.sync(
            client=client,
            eval_run_id=claim.eval_run_id,
            body=CompleteRunRequest(
                terminal_status=TerminalStatus.SUCCESS,
                validator_score=score,
                results_s3_key=upload.results_s3_key,
            ),
        )
        assert done is not None
        scores[validator.ss58_address] = done
        matrix = get_agent_version_problems.sync(
            client=Client(base_url=server.base_url), agent_version_id=version_id
        )
        assert matrix is not None
        cell = [
            r
            for p in matrix.problems
            if p.problem_id == first
            for r in p.validator_results
            if r.eval_run_id == claim.eval_run_id
        ][0]
        assert cell.score == score, "the logs-only update kept the score"

    last = scores[EVE.ss58_address]
    assert last.agent_version_became_eligible and last.final_score == pytest.approx(0.7)
    assert last.work_item.is_closed and last.work_item.included_success_count == 2

    public = Client(base_url=server.base_url)
    board = get_leaderboard.sync(client=public)
    assert board is not None and board.total == 1 and board.entries[0].agent_version_id == version_id
    assert board.entries[0].is_current_top and board.unique_miners == 1 and board.agents_submitted_24h == 1
    found = get_leaderboard.sync(client=public, q=BOB.ss58_address[:6])
    assert found is not None and found.total == 1
    assert get_leaderboard.sync(client=public, q="nobody-matches").total == 0  # type: ignore[union-attr]
    top = get_top_agent.sync(client=public)
    assert top is not None and top.top_agent_version_id == version_id and top.top_score == pytest.approx(0.7)
    history = get_top_history.sync(client=public)
    assert history is not None and history.entries[0].agent_version_id == version_id
    runs = get_agent_version_runs.sync(client=public, agent_version_id=version_id)
    assert runs is not None and {r.status.value for r in runs} == {"SUCCESS"}
    assert get_evaluation_run.sync(client=public, eval_run_id=runs[0].eval_run_id) is not None
    validators = get_validators.sync(client=public)
    assert validators is not None and {v.hotkey for v in validators} >= {ALICE.ss58_address, EVE.ss58_address}
    alice_view = next(v for v in validators if v.hotkey == ALICE.ss58_address)
    assert alice_view.status.value == "available" and alice_view.ram_pct == 20.0
    assert alice_view.service_versions.additional_properties == {"validator": "sha256:0123456789"}  # type: ignore[union-attr]
    assert get_running_evaluations.sync(client=public) == []
    pending = get_pending_evaluations.sync(client=public)
    assert pending is not None and pending.summary.total_pending == 0

    request = ArtifactDownloadRequest(artifact_type=ArtifactType.AGENT_CODE, agent_version_id=version_id)
    early = get_artifact_download_url.sync_detailed(client=public, body=request)
    assert early.status_code == 404 and early.parsed.error_code == "ARTIFACT_NOT_RELEASED"  # type: ignore[union-attr]
    time.sleep(3.2)
    released = get_artifact_download_url.sync(client=public, body=request)
    assert released is not None
    assert b"def agent_main" in httpx.get(released.download_url).content
    logs = get_artifact_download_url.sync(
        client=public,
        body=ArtifactDownloadRequest(
            artifact_type=ArtifactType.EVAL_LOGS_BUNDLE,
            agent_version_id=version_id,
            eval_run_id=runs[0].eval_run_id,
        ),
    )
    assert logs is not None and gzip.decompress(httpx.get(logs.download_url).content) == b"problem log"


def test_silent_validator_loses_its_lease(
    env: dict[str, str], start_server: Callable[[dict[str, str]], ServerProcess], tmp_path: Path
) -> None:
    server = start_server(
        {**env, "PROCTOR_EVAL_LEASE_SECONDS": "2", "PROCTOR_REAPER_INTERVAL_SECONDS": "0.5"}
    )
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")
    accepted = submit_agent.sync(client=signed(server, BOB), body=body("slow", agents.valid_agent()))
    assert accepted is not None
    alice, eve = signed(server, ALICE), signed(server, EVE)
    first = claim_work.sync(client=alice, body=None)
    assert first is not None
    eve_claim = claim_work.sync(client=eve, body=None)
    assert eve_claim is not None and eve_claim.eval_run_id != first.eval_run_id
    assert (
        complete_run.sync(
            client=eve,
            eval_run_id=eve_claim.eval_run_id,
            body=CompleteRunRequest(terminal_status=TerminalStatus.FAILED, failure_reason="sandbox broke"),
        )
        is not None
    )
    time.sleep(3.0)  # Alice goes silent past her lease; the reaper returns her slot
    expired = heartbeat.sync_detailed(client=alice, eval_run_id=first.eval_run_id, body=None)
    assert expired.status_code == 409 and expired.parsed.error_code == "LEASE_EXPIRED"  # type: ignore[union-attr]
    problems = get_run_problems.sync(client=alice, eval_run_id=first.eval_run_id)
    assert problems is not None
    late = update_progress.sync_detailed(
        client=alice,
        eval_run_id=first.eval_run_id,
        body=ProgressUpdateRequest(
            problems=[
                ProblemProgressUpdate(
                    problem_id=problems.problems[0].problem_id, status=ProblemStatus.SUCCESS
                )
            ]
        ),
    )
    assert late.status_code == 409 and isinstance(late.parsed, RunAlreadyCompleteError)
    late_complete = complete_run.sync_detailed(
        client=alice,
        eval_run_id=first.eval_run_id,
        body=CompleteRunRequest(terminal_status=TerminalStatus.SUCCESS, validator_score=1.0),
    )
    assert late_complete.status_code == 409 and isinstance(late_complete.parsed, RunAlreadyCompleteError)
    runs = get_agent_version_runs.sync(
        client=Client(base_url=server.base_url), agent_version_id=accepted.agent_version_id
    )
    assert runs is not None and {r.status.value for r in runs} == {"STALE", "FAILED"}
    charlie_like = signed(server, CHARLIE)  # no permit: cannot pick the work up
    assert claim_work.sync_detailed(client=charlie_like, body=None).status_code == 403
    assert uuid.UUID(str(first.eval_run_id))
