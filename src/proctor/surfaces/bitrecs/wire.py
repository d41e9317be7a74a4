"""Bitrecs' request and response shapes (reference bitrecs-and-aitbc §1.2, §1.5, §1.8)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from proctor.http.params import Int64


class MinerSubmission(BaseModel):
    """The body of /check and /submit (the CLI's `MinerSubmission.to_dict()`)."""

    created_at: str = Field(max_length=64)
    github_account: str = Field(max_length=100)
    gist_id: str = Field(max_length=64)
    hotkey: str = Field(max_length=64)
    signature: str = Field(max_length=256)


class CheckOk(BaseModel):
    status: str = "success"
    message: str = "Agent check successful"


class SimilarResult(BaseModel):
    agent_id: str
    distance: float


class SubmitOk(BaseModel):
    artifact_id: str
    request_id: str
    message: str = "Artifact submitted successfully"
    similarity_check: str = "enabled"
    similar_results: list[SimilarResult] = []


class ValidatorRegistration(BaseModel):
    hotkey: str = Field(max_length=64)
    timestamp: Int64
    signed_timestamp: str = Field(max_length=256)


class ScreenerRegistration(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=256)


class Registered(BaseModel):
    session_id: str
    running_agent_timeout_seconds: int
    running_eval_timeout_seconds: int
    max_evaluation_run_log_size_bytes: int


class Heartbeat(BaseModel):
    system_metrics: dict[str, Any] | None = None


class EvaluationRun(BaseModel):
    evaluation_run_id: str
    problem_name: str


class EvaluationAssigned(BaseModel):
    agent_code: str = "ignored"
    evaluation_runs: list[EvaluationRun]
    evaluation_id: str
    agent_id: str
    miner_hotkey: str


class UpdateRun(BaseModel):
    evaluation_run_id: str = Field(max_length=64)
    updated_status: str = Field(max_length=32)
    patch: str | None = Field(default=None, max_length=2_000_000)
    agent_logs: str | None = Field(default=None, max_length=2_000_000)
    test_results: Any = None
    eval_logs: str | None = Field(default=None, max_length=2_000_000)
    error_code: Int64 | None = None
    error_message: str | None = Field(default=None, max_length=20_000)


class Disconnect(BaseModel):
    reason: str = Field(default="", max_length=2000)


class Empty(BaseModel):
    pass
