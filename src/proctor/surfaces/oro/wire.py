"""ORO wire shapes, exactly as `oro-sdk==1.0.78` reads them (reference oro-api Appendix A).

Required fields here are required there; optional ones may be null. Extra fields are harmless (the
SDK keeps them in `additional_properties`) and are used sparingly for operator-useful facts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from proctor.http.params import Count, Id64, Label


class SuitePublic(BaseModel):
    suite_id: int
    suite_version: int
    is_active: bool
    name: str | None = None
    problem_count: int | None = None


class ProblemPublic(BaseModel):
    problem_id: uuid.UUID
    suite_id: int
    metadata: dict[str, Any] = Field(default_factory=dict)


class SuiteWithProblemsResponse(BaseModel):
    suite: SuitePublic
    problems: list[ProblemPublic]


class ChallengeRequest(BaseModel):
    hotkey: str = Field(max_length=128)


class ChallengeResponse(BaseModel):
    challenge: str
    expires_at: int


class SessionRequest(BaseModel):
    hotkey: str = Field(max_length=128)
    challenge: str = Field(max_length=256)
    signature: str = Field(max_length=256)


class SessionResponse(BaseModel):
    session_token: str
    expires_at: int
    role: str


class LogoutResponse(BaseModel):
    success: bool


class WhoAmIResponse(BaseModel):
    """proctor extension: what the server makes of the caller (explains a 403 before it happens)."""

    hotkey: str
    via: str
    role: str
    registered: bool
    validator_permit: bool
    stake: float
    banned: bool
    registry_fresh: bool


# --- miner surface ---------------------------------------------------------------------------------


class SubmitAgentResponse(BaseModel):
    admission_status: str
    hotkey: str
    agent_id: uuid.UUID | None = None
    agent_version_id: uuid.UUID | None = None
    admission_reason: str | None = None
    next_allowed_at: datetime | None = None
    message: str = "Agent submitted successfully"


class AgentLatestVersion(BaseModel):
    agent_version_id: uuid.UUID
    version_number: int
    submitted_at: datetime
    state: str
    final_score: float | None = None
    eliminated_at: datetime | None = None
    eliminated_in_race_number: int | None = None
    is_selected_for_race: bool = False
    is_pinnable: bool = False
    pin_disabled_reason: str | None = None


class AgentPublic(BaseModel):
    agent_id: uuid.UUID
    miner_hotkey: str
    agent_name: str
    created_at: datetime
    latest_version: AgentLatestVersion | None = None


class MinerAgentsResponse(BaseModel):
    agents: list[AgentPublic]
    can_submit: bool
    next_allowed_at: datetime | None = None
    racing_agent_version_id: uuid.UUID | None = None
    racing_agent_id: uuid.UUID | None = None


class AgentVersionHistoryEntry(BaseModel):
    agent_version_id: uuid.UUID
    version_number: int
    submitted_at: datetime
    state: str
    final_score: float | None = None
    eliminated_at: datetime | None = None
    eliminated_in_race_number: int | None = None
    is_selected_for_race: bool = False
    is_pinnable: bool = False
    pin_disabled_reason: str | None = None


class AgentVersionPublic(BaseModel):
    agent_version_id: uuid.UUID
    agent_id: uuid.UUID
    agent_name: str
    miner_hotkey: str
    version_number: int
    submitted_at: datetime
    suite_id: int | None = None
    latest_final_score: float | None = None
    # 7.0.2 requires these; 1.0.78 keeps them as extras.
    released_at: datetime | None = None
    code_available_at: datetime | None = None


class AgentVersionStatus(BaseModel):
    agent_version_id: uuid.UUID
    agent_name: str
    miner_hotkey: str
    version_number: int
    submitted_at: datetime
    state: str
    suite_id: int | None = None
    required_successes: int = 1
    success_count: int = 0
    active_count: int = 0
    is_closed: bool = False
    final_score: float | None = None
    race_score: float | None = None
    eliminated_at: datetime | None = None
    eliminated_in_race_number: int | None = None
    release_state: str = "HIDDEN"
    code_available_at: datetime | None = None
    review_flags: list[dict[str, Any]] = Field(default_factory=list)


# --- validator surface -----------------------------------------------------------------------------


class HeartbeatRequest(BaseModel):
    service_versions: dict[str, Any] | None = None
    cpu_pct: float | None = None
    ram_pct: float | None = None
    disk_pct: float | None = None
    docker_container_count: int | None = None


class InferenceTokenGrant(BaseModel):
    provider: str
    access_token: str
    base_url: str
    expires_at: datetime


class ClaimWorkResponse(BaseModel):
    eval_run_id: uuid.UUID
    agent_version_id: uuid.UUID
    suite_id: int
    lease_expires_at: datetime
    code_download_url: str
    inference_token: InferenceTokenGrant | None = None
    chutes_access_token: str | None = None  # read by validators pinned to oro-sdk 1.0.50


class HeartbeatResponse(BaseModel):
    lease_expires_at: datetime


class ProblemProgressUpdate(BaseModel):
    problem_id: uuid.UUID
    status: Literal["PENDING", "RUNNING", "SUCCESS", "FAILED", "TIMED_OUT", "SKIPPED"]
    score: float | None = None
    score_components_summary: dict[str, Any] | None = None
    logs_s3_key: str | None = Field(default=None, max_length=512)
    reasoning_score: float | None = None
    inference_failure_count: Count | None = None
    inference_total: Count | None = None
    execution_time: float | None = None


class ProgressUpdateRequest(BaseModel):
    problems: list[ProblemProgressUpdate] = Field(max_length=10_000)


class ProgressUpdateResponse(BaseModel):
    accepted: bool = True


class CompleteRunRequest(BaseModel):
    terminal_status: Literal["SUCCESS", "FAILED", "TIMED_OUT"]
    validator_score: float | None = None
    score_components: dict[str, Any] | None = None
    results_s3_key: str | None = Field(default=None, max_length=512)
    failure_reason: str | None = Field(default=None, max_length=10_000)
    sandbox_metadata: dict[str, Any] | None = None


class WorkItemStatus(BaseModel):
    included_success_count: int
    required_successes: int
    is_closed: bool


class CompleteRunResponse(BaseModel):
    eval_run_id: uuid.UUID
    status: str
    work_item: WorkItemStatus
    agent_version_became_eligible: bool
    final_score: float | None = None


class PresignUploadRequest(BaseModel):
    content_length: Id64
    eval_run_id: uuid.UUID
    problem_id: uuid.UUID
    content_type: Label = "application/json"


class PresignUploadResponse(BaseModel):
    upload_url: str
    results_s3_key: str
    expires_at: datetime
    method: str = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)


class RunProblemsResponse(BaseModel):
    problems: list[ProblemPublic]


# --- public evaluation reads -------------------------------------------------------------------------


class EvaluationRunPublic(BaseModel):
    eval_run_id: uuid.UUID
    agent_version_id: uuid.UUID
    suite_id: int
    validator_hotkey: str
    status: str
    claimed_at: datetime
    lease_expires_at: datetime
    is_included: bool
    last_heartbeat_at: datetime | None = None
    completed_at: datetime | None = None
    failure_reason: str | None = None
    validator_score: float | None = None
    score_components_summary: dict[str, Any] | None = None
    service_versions: dict[str, Any] | None = None
    sandbox_metadata: dict[str, Any] | None = None
    phase: str | None = "QUALIFYING"
    race_id: uuid.UUID | None = None


class EvaluationRunDetail(BaseModel):
    eval_run_id: uuid.UUID
    agent_version_id: uuid.UUID
    agent_name: str
    validator_hotkey: str
    status: str
    version_number: int
    claimed_at: datetime
    score: float | None = None
    completed_at: datetime | None = None
    failure_reason: str | None = None
    is_included: bool = True
    sandbox_metadata: dict[str, Any] | None = None
    score_components_summary: dict[str, Any] | None = None


class ValidatorProblemResult(BaseModel):
    eval_run_id: uuid.UUID
    validator_hotkey: str
    status: str
    score: float | None = None
    score_components: dict[str, Any] | None = None
    reasoning_score: float | None = None
    updated_at: datetime | None = None
    inference_failure_count: Count | None = None
    inference_total: Count | None = None
    execution_time: float | None = None


class ProblemProgressEntry(BaseModel):
    problem_id: uuid.UUID
    category: str | None = None
    phase: str | None = "QUALIFYING"
    race_id: uuid.UUID | None = None
    validator_results: list[ValidatorProblemResult] = Field(default_factory=list)


class AgentVersionProblemsResponse(BaseModel):
    agent_version_id: uuid.UUID
    problems: list[ProblemProgressEntry]
    suite_id: int | None = None


class ValidatorCurrentAgent(BaseModel):
    agent_name: str
    version_id: uuid.UUID
    version_number: int
    started_at: datetime


class ValidatorPublic(BaseModel):
    hotkey: str
    status: Literal["available", "evaluating"]
    registered_at: datetime
    last_claim_at: datetime | None = None
    last_seen_at: datetime | None = None
    current_agent: ValidatorCurrentAgent | None = None
    service_versions: dict[str, Any] | None = None
    cpu_pct: float | None = None
    ram_pct: float | None = None
    disk_pct: float | None = None
    docker_container_count: int | None = None
    metrics_reported_at: datetime | None = None


class RunningEvaluation(BaseModel):
    eval_run_id: uuid.UUID
    agent_version_id: uuid.UUID
    agent_name: str
    version_number: int
    miner_hotkey: str
    validator_hotkey: str
    status: str
    started_at: datetime
    progress_percent: float = 0.0
    phase: str | None = "QUALIFYING"
    race_id: uuid.UUID | None = None


class PendingEvaluationSummary(BaseModel):
    total_pending: int
    total_runs_needed: int
    total_runs_active: int
    projected_completion_at: datetime | None = None


class PendingEvaluation(BaseModel):
    work_item_id: uuid.UUID
    agent_version_id: uuid.UUID
    agent_name: str
    version_number: int
    miner_hotkey: str
    suite_id: int
    required_successes: int
    completed_successes: int
    active_runs: int
    remaining: int
    queued_at: datetime
    phase: str | None = "QUALIFYING"
    race_id: uuid.UUID | None = None


class PendingEvaluationsResponse(BaseModel):
    summary: PendingEvaluationSummary
    items: list[PendingEvaluation]


class LeaderboardEntry(BaseModel):
    rank: int
    agent_version_id: uuid.UUID
    agent_name: str
    miner_hotkey: str
    version_number: int
    final_score: float
    race_score: float | None = None
    eligible_at: datetime | None = None
    is_discarded: bool = False
    is_miner_banned: bool = False
    is_current_top: bool = False
    was_top: bool = False
    top_at: datetime | None = None


class LeaderboardResponse(BaseModel):
    total: int
    limit: int
    offset: int
    suite: SuitePublic
    entries: list[LeaderboardEntry]
    unique_miners: int
    agents_submitted_24h: int = 0
    challenge_threshold: float | None = None


class TopAgentResponse(BaseModel):
    suite_id: int
    computed_at: datetime
    top_agent_version_id: uuid.UUID | None = None
    top_miner_hotkey: str | None = None
    top_score: float | None = None
    policy: dict[str, Any] | None = None
    challenge_threshold: float | None = None
    emission_weight: float | None = None
    margin: float | None = None
    top_agent_name: str | None = None


class TopHistoryEntry(BaseModel):
    agent_version_id: uuid.UUID
    agent_name: str
    miner_hotkey: str
    version_number: int
    final_score: float
    top_at: datetime
    is_current_top: bool
    was_top: bool
    suite_id: int


class TopHistoryResponse(BaseModel):
    suite_id: int
    entries: list[TopHistoryEntry]


class ArtifactDownloadRequest(BaseModel):
    artifact_type: str = Field(max_length=64)
    agent_version_id: uuid.UUID
    eval_run_id: uuid.UUID | None = None
    problem_id: uuid.UUID | None = None


class ArtifactDownloadResponse(BaseModel):
    download_url: str
    expires_at: datetime


class TopMinerPayoutResponse(BaseModel):
    as_of: datetime
    miner_hotkey: str | None = None
    agent_name: str | None = None
    tao_per_day: float | None = None
    usd_per_day: float | None = None
    tao_price_usd: float | None = None


class InferenceModelsResponse(BaseModel):
    models: list[str]


class RankedInferenceModel(BaseModel):
    id: str
    rank_metric: dict[str, float] = Field(default_factory=dict)
    healthy: bool = True


class RankedInferenceModelsResponse(BaseModel):
    models: list[RankedInferenceModel]
    ranked_by: str | None = None
    as_of: datetime | None = None


class WaitlistSignupRequest(BaseModel):
    email: str = Field(max_length=320)
    source: str = Field("landing", max_length=64)


class WaitlistSignupResponse(BaseModel):
    success: bool
