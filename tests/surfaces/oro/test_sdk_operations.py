"""Every non-admin operation of ORO's client, `oro-sdk==1.0.78`, against a real `proctor serve` (SQLite,
and PostgreSQL + Redis): each is called with valid input, answers its documented success status, and the
SDK parses the answer into its documented model. The operations are
found by walking `oro_sdk.api` (every package but `admin`), so an operation the walk misses fails it."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import os
import pkgutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import oro_sdk.api
import pytest
from oro_sdk import BittensorAuthClient, Client
from oro_sdk.api.auth import create_session_endpoint, logout, request_challenge
from oro_sdk.api.miner import (
    clear_race_selection,
    delete_inference_credential,
    get_chutes_auth_status,
    get_inference_auth_status_one,
    get_owned_agent_version_status,
    list_agent_versions,
    list_inference_auth,
    list_miner_agents,
    set_default_inference_provider,
    set_race_selection,
    store_chutes_token,
    store_inference_credential,
    submit_agent,
)
from oro_sdk.api.public import (
    deep_health_check,
    get_agent_version,
    get_agent_version_problems,
    get_agent_version_runs,
    get_agent_version_status,
    get_artifact_download_url,
    get_current_race,
    get_current_suite,
    get_evaluation_run,
    get_inference_models,
    get_leaderboard,
    get_pending_evaluations,
    get_race_detail,
    get_race_history,
    get_running_evaluations,
    get_suite_problems,
    get_top_agent,
    get_top_history,
    get_top_miner_payout,
    get_validators,
    health_check,
    join_waitlist,
    list_suites,
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
    AgentVersionHistoryEntry,
    AgentVersionProblemsResponse,
    AgentVersionPublic,
    AgentVersionStatus,
    ArtifactDownloadRequest,
    ArtifactDownloadResponse,
    ArtifactType,
    BodySubmitAgent,
    ChallengeRequest,
    ChallengeResponse,
    ChutesAuthStatusResponse,
    ClaimWorkResponse,
    CompleteRunRequest,
    CompleteRunResponse,
    DeleteInferenceCredentialResponseDeleteInferenceCredential,
    EvaluationRunDetail,
    EvaluationRunPublic,
    HealthCheckResponseHealthCheck,
    HeartbeatRequest,
    HeartbeatResponse,
    InferenceAuthListResponse,
    InferenceAuthStatusResponse,
    InferenceModelsResponse,
    LeaderboardResponse,
    LogoutResponse,
    MinerAgentsResponse,
    MinerRaceSelectionRequest,
    PendingEvaluationsResponse,
    PresignUploadRequest,
    PresignUploadResponse,
    ProblemProgressUpdate,
    ProblemStatus,
    ProgressUpdateRequest,
    ProgressUpdateResponse,
    RaceCurrentResponse,
    RaceDetailResponse,
    RaceHistoryResponse,
    RankedInferenceModelsResponse,
    RunningEvaluation,
    RunProblemsResponse,
    SessionRequest,
    SessionResponse,
    SetDefaultInferenceProviderResponseSetDefaultInferenceProvider,
    SetDefaultProviderRequest,
    StoreChutesTokenRequest,
    StoreChutesTokenResponseStoreChutesToken,
    StoreInferenceCredentialRequest,
    StoreInferenceCredentialResponseStoreInferenceCredential,
    SubmitAgentResponse,
    SuitePublic,
    SuiteWithProblemsResponse,
    TerminalStatus,
    TopAgentResponse,
    TopHistoryResponse,
    TopMinerPayoutResponse,
    ValidatorPublic,
    WaitlistSignupRequest,
    WaitlistSignupResponse,
)
from oro_sdk.types import File

from tests.support import agents, services
from tests.support.provider_double import CHUTES_CLIENT_ID, ProviderDouble
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB
from tests.support.suites import oro_problems, write_oro_suite

pytestmark = pytest.mark.slow

SDK_OPERATIONS = 45  # oro-sdk 1.0.78 without `admin` (reference oro-api Appendix A.1)


def sdk_operations() -> set[str]:
    """`tag.operation` for every generated operation module outside `oro_sdk.api.admin`."""
    found = set()
    for tag in pkgutil.iter_modules(oro_sdk.api.__path__):
        if tag.name == "admin" or not tag.ispkg:
            continue
        package = importlib.import_module(f"oro_sdk.api.{tag.name}")
        found |= {f"{tag.name}.{op.name}" for op in pkgutil.iter_modules(package.__path__)}
    return found


class Walk:
    """Calls operations, checks status and model, and records which ones were walked."""

    def __init__(self) -> None:
        self.walked: dict[str, int] = {}
        self.last: Any = None

    def __call__(
        self, operation: ModuleType, status: int, model: type | None, *, each: type | None = None, **kw: Any
    ) -> Any:
        name = operation.__name__.removeprefix("oro_sdk.api.")
        response = operation.sync_detailed(**kw)
        self.last = response
        assert response.status_code == status, (name, response.status_code, response.content[:600])
        parsed = response.parsed
        if model is None:
            assert parsed is None, (name, parsed)
        elif model is list:
            assert isinstance(parsed, list) and parsed, (name, "a non-empty list", response.content[:600])
            assert each is not None and all(isinstance(x, each) for x in parsed), (name, parsed)
        else:
            assert isinstance(parsed, model), (name, type(parsed), response.content[:600])
        self.walked[name] = self.walked.get(name, 0) + 1
        return parsed


@pytest.fixture
def provider() -> Iterator[ProviderDouble]:
    double = ProviderDouble().start()
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
        "PROCTOR_SECRET_KEY": "sdk-operations-test-secret-0123456789abcdef",
        "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1",
        "PROCTOR_RACE_ENABLED": "true",
        "PROCTOR_RACE_REQUIRED_SUCCESSES": "1",
        "PROCTOR_RACE_INTERVAL_SECONDS": "0",
        "PROCTOR_MINER_TAO_PER_DAY": "120",
        "PROCTOR_TAO_PRICE_USD": "400",
        "PROCTOR_TOP_EMISSION_WEIGHT": "0.25",
        "PROCTOR_INFERENCE_MODELS": "deepseek-ai/DeepSeek-V3,Qwen/Qwen3-32B",
        "PROCTOR_CHUTES_API_URL": provider.base_url,
        "PROCTOR_CHUTES_INFERENCE_URL": provider.base_url + "/chutes/v1",
        "PROCTOR_CHUTES_CLIENT_ID": CHUTES_CLIENT_ID,
        "PROCTOR_OPENROUTER_API_URL": provider.openrouter_api_url,
    }
    if request.param != "sqlite":
        dbs: services.PostgresDatabases = request.getfixturevalue("pg")
        values["PROCTOR_DATABASE_URL"] = dbs.url(services.blocking(dbs.create()))
        values["PROCTOR_REDIS_URL"] = request.getfixturevalue("redis_url")
    return values


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def test_the_walk_names_every_operation() -> None:
    assert len(sdk_operations()) == SDK_OPERATIONS


def test_every_non_admin_operation_answers_and_parses(
    env: dict[str, str],
    start_server: Callable[[dict[str, str]], ServerProcess],
    provider: ProviderDouble,
    tmp_path: Path,
) -> None:
    server = start_server(env)
    call = Walk()
    public = Client(base_url=server.base_url, timeout=httpx.Timeout(30))
    bob = BittensorAuthClient(base_url=server.base_url, wallet=BOB, timeout=httpx.Timeout(30))
    alice = BittensorAuthClient(base_url=server.base_url, wallet=ALICE, timeout=httpx.Timeout(30))

    call(health_check, 200, HealthCheckResponseHealthCheck, client=public)
    call(deep_health_check, 200, None, client=public)
    cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")
    bank = oro_problems(2)
    for p in bank:
        p["query"] = "RACE ONLY " + str(p["query"])
    (tmp_path / "bank.json").write_text(json.dumps(bank))
    cli(env, "admin", "race", "import-bank", str(tmp_path / "bank.json"), "--suite-id", "1")
    call(list_suites, 200, list, each=SuitePublic, client=public)
    suite = call(get_current_suite, 200, SuitePublic, client=public)
    call(get_suite_problems, 200, SuiteWithProblemsResponse, client=public, suite_id=suite.suite_id)
    call(
        get_suite_problems,
        200,
        SuiteWithProblemsResponse,
        client=public,
        suite_id=suite.suite_id,
        include_embeddings=True,
    )

    # Auth: challenge → session → logout.
    challenge = call(
        request_challenge,
        200,
        ChallengeResponse,
        client=public,
        body=ChallengeRequest(hotkey=BOB.ss58_address),
    )
    session = call(
        create_session_endpoint,
        200,
        SessionResponse,
        client=public,
        body=SessionRequest(
            hotkey=BOB.ss58_address,
            challenge=challenge.challenge,
            signature=BOB.sign(challenge.challenge.encode()).hex(),
        ),
    )
    out = call(logout, 200, LogoutResponse, client=public, authorization=f"Bearer {session.session_token}")
    assert out.success

    # The miner: inference credentials (both providers), a submission, its reads.
    provider.state.refresh_tokens.add("rt-good")
    call(
        store_chutes_token,
        200,
        StoreChutesTokenResponseStoreChutesToken,
        client=bob,
        body=StoreChutesTokenRequest(refresh_token="rt-good"),
    )
    assert call(get_chutes_auth_status, 200, ChutesAuthStatusResponse, client=bob).connected is True
    call(
        store_inference_credential,
        200,
        StoreInferenceCredentialResponseStoreInferenceCredential,
        client=bob,
        provider="openrouter",
        body=StoreInferenceCredentialRequest(credential=provider.new_management_key()),
    )
    one = call(
        get_inference_auth_status_one, 200, InferenceAuthStatusResponse, client=bob, provider="openrouter"
    )
    assert one.connected is True
    call(
        set_default_inference_provider,
        200,
        SetDefaultInferenceProviderResponseSetDefaultInferenceProvider,
        client=bob,
        body=SetDefaultProviderRequest(provider="openrouter"),
    )
    listed = call(list_inference_auth, 200, InferenceAuthListResponse, client=bob)
    assert listed.default_provider == "openrouter" and len(listed.providers) == 2
    call(
        delete_inference_credential,
        200,
        DeleteInferenceCredentialResponseDeleteInferenceCredential,
        client=bob,
        provider="openrouter",
    )
    assert call(list_inference_auth, 200, InferenceAuthListResponse, client=bob).default_provider == "chutes"
    submitted = call(
        submit_agent,
        200,
        SubmitAgentResponse,
        client=bob,
        body=BodySubmitAgent(
            agent_name="walker",
            file=File(
                payload=io.BytesIO(agents.valid_agent()), file_name="agent.py", mime_type="text/x-python"
            ),
        ),
    )
    version_id = submitted.agent_version_id
    assert isinstance(version_id, uuid.UUID)
    mine = call(list_miner_agents, 200, MinerAgentsResponse, client=bob)
    call(
        list_agent_versions,
        200,
        list,
        each=AgentVersionHistoryEntry,
        client=bob,
        agent_id=mine.agents[0].agent_id,
    )
    call(get_owned_agent_version_status, 200, AgentVersionStatus, client=bob, agent_version_id=version_id)
    call(get_pending_evaluations, 200, PendingEvaluationsResponse, client=public)

    # The validator: a qualifying run, start to finish; the public reads while it is live.
    claim = call(claim_work, 200, ClaimWorkResponse, client=alice, body=HeartbeatRequest(cpu_pct=3.0))
    run_id = claim.eval_run_id
    call(
        heartbeat,
        200,
        HeartbeatResponse,
        client=alice,
        eval_run_id=run_id,
        body=HeartbeatRequest(ram_pct=9.0),
    )
    problems = call(get_run_problems, 200, RunProblemsResponse, client=alice, eval_run_id=run_id).problems
    call(get_running_evaluations, 200, list, each=RunningEvaluation, client=public)
    call(get_validators, 200, list, each=ValidatorPublic, client=public)
    call(
        update_progress,
        200,
        ProgressUpdateResponse,
        client=alice,
        eval_run_id=run_id,
        body=ProgressUpdateRequest(
            problems=[
                ProblemProgressUpdate(problem_id=p.problem_id, status=ProblemStatus.SUCCESS, score=0.8)
                for p in problems
            ]
        ),
    )
    log = gzip.compress(b"walk log")
    upload = call(
        presign_upload,
        200,
        PresignUploadResponse,
        client=alice,
        body=PresignUploadRequest(
            content_length=len(log),
            eval_run_id=run_id,
            problem_id=problems[0].problem_id,
            content_type="application/gzip",
        ),
    )
    put = httpx.request(
        upload.method, upload.upload_url, content=log, headers={"Content-Type": "application/gzip"}
    )
    assert put.status_code in (200, 201, 204), put.text
    done = call(
        complete_run,
        200,
        CompleteRunResponse,
        client=alice,
        eval_run_id=run_id,
        body=CompleteRunRequest(
            terminal_status=TerminalStatus.SUCCESS, validator_score=0.8, results_s3_key=upload.results_s3_key
        ),
    )
    assert done.agent_version_became_eligible

    # Public reads of the version and its run.
    call(get_agent_version, 200, AgentVersionPublic, client=public, agent_version_id=version_id)
    call(get_agent_version_status, 200, AgentVersionStatus, client=public, agent_version_id=version_id)
    call(
        get_agent_version_runs,
        200,
        list,
        each=EvaluationRunPublic,
        client=public,
        agent_version_id=version_id,
    )
    call(
        get_agent_version_problems,
        200,
        AgentVersionProblemsResponse,
        client=public,
        agent_version_id=version_id,
    )
    call(get_evaluation_run, 200, EvaluationRunDetail, client=public, eval_run_id=run_id)
    call(get_leaderboard, 200, LeaderboardResponse, client=public)
    logs = call(
        get_artifact_download_url,
        200,
        ArtifactDownloadResponse,
        client=public,
        body=ArtifactDownloadRequest(
            artifact_type=ArtifactType.EVAL_LOGS_BUNDLE, agent_version_id=version_id, eval_run_id=run_id
        ),
    )
    assert gzip.decompress(httpx.get(logs.download_url).content) == b"walk log"

    # The race: pin, unpin, pin; close qualifying; a race run; the race reads.
    pin = MinerRaceSelectionRequest(agent_version_id=version_id)
    call(set_race_selection, 204, None, client=bob, body=pin)
    call(clear_race_selection, 204, None, client=bob)
    call(set_race_selection, 204, None, client=bob, body=pin)
    cli(env, "admin", "race", "close-qualifying")
    assert call(get_current_race, 200, RaceCurrentResponse, client=public).race.status == "RACE_RUNNING"
    race_claim = call(claim_work, 200, ClaimWorkResponse, client=alice, body=None)
    race_problems = call(
        get_run_problems, 200, RunProblemsResponse, client=alice, eval_run_id=race_claim.eval_run_id
    )
    assert {str(p.problem_id) for p in race_problems.problems}.isdisjoint(
        {str(p.problem_id) for p in problems}
    )
    call(
        complete_run,
        200,
        CompleteRunResponse,
        client=alice,
        eval_run_id=race_claim.eval_run_id,
        body=CompleteRunRequest(terminal_status=TerminalStatus.SUCCESS, validator_score=0.7),
    )
    history = call(get_race_history, 200, RaceHistoryResponse, client=public, limit=5)
    assert history.races and history.races[0].status == "RACE_COMPLETE"
    detail = call(get_race_detail, 200, RaceDetailResponse, client=public, race_id=history.races[0].race_id)
    assert [(q.miner_hotkey, q.race_score) for q in detail.qualifiers] == [(BOB.ss58_address, 0.7)]
    call(get_current_race, 200, RaceCurrentResponse, client=public)
    call(
        get_agent_version_problems,
        200,
        AgentVersionProblemsResponse,
        client=public,
        agent_version_id=version_id,
        phase="RACE",
    )
    call(get_leaderboard, 200, LeaderboardResponse, client=public, score_type="race")
    top = call(get_top_agent, 200, TopAgentResponse, client=public)
    assert top.top_agent_version_id == version_id
    call(get_top_history, 200, TopHistoryResponse, client=public)
    payout = call(get_top_miner_payout, 200, TopMinerPayoutResponse, client=public)
    assert payout.miner_hotkey == BOB.ss58_address
    models = call(get_inference_models, 200, InferenceModelsResponse, client=public)
    assert models.models == ["deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-32B"]
    # The SDK tries `InferenceModelsResponse` first and its `from_dict` accepts any list, so a ranked
    # answer parses into it too (oro-sdk's union order); the body is the ranked model's.
    call(get_inference_models, 200, InferenceModelsResponse, client=public, ranked=True)
    ranked = RankedInferenceModelsResponse.from_dict(json.loads(call.last.content))
    assert [m.id for m in ranked.models] == models.models and ranked.models[0].healthy
    call(
        join_waitlist,
        200,
        WaitlistSignupResponse,
        client=public,
        body=WaitlistSignupRequest(email="a@b.example"),
    )

    missed = sdk_operations() - set(call.walked)
    assert not missed, f"operations the walk did not call: {sorted(missed)}"
    assert set(call.walked) == sdk_operations()
