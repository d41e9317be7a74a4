"""Pool's wire shapes for recipient coldkeys (reference pool-api §2.2, §3.1, §3.2).

Pool documents the update bodies and the `{"status": "success"}` reply; the GET shapes are not public,
so proctor answers with the fields a miner needs: the mapping (null when never set), who the next
epoch pays, and when it changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from proctor.http.params import Id64


class RecipientUpdateRequest(BaseModel):
    """`recipient_coldkey`, or the legacy `coldkey_address`; Pool's body-auth keys are tolerated."""

    model_config = ConfigDict(extra="ignore")

    recipient_coldkey: str | None = Field(default=None, max_length=256)
    coldkey_address: str | None = Field(default=None, max_length=256)
    public_address: str | None = Field(default=None, max_length=256)
    signature: str | None = Field(default=None, max_length=1024)
    message: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _one_recipient(self) -> RecipientUpdateRequest:
        given = {v.strip() for v in (self.recipient_coldkey, self.coldkey_address) if v is not None}
        if not given:
            raise ValueError("recipient_coldkey (or coldkey_address) is required")
        if len(given) > 1:
            raise ValueError("recipient_coldkey and coldkey_address disagree")
        return self

    @property
    def raw_recipient(self) -> str:
        value = self.recipient_coldkey if self.recipient_coldkey is not None else self.coldkey_address
        assert value is not None
        return value

    def auth_fields(self) -> dict[str, object]:
        return {"public_address": self.public_address, "signature": self.signature, "message": self.message}


class RecipientUpdateResponse(BaseModel):
    status: Literal["success"] = "success"
    miner_hotkey: str
    recipient_coldkey: str
    previous_recipient_coldkey: str | None
    changed: bool
    updated_at: datetime
    applies_to: str = "epochs published from now on; published epochs never change"


class RecipientChangeWire(BaseModel):
    recipient_coldkey: str
    previous_recipient_coldkey: str | None
    changed_at: datetime


class RecipientResponse(BaseModel):
    miner_hotkey: str
    recipient_coldkey: str | None  # null: never set
    effective_recipient_coldkey: str  # who the next epoch pays (the hotkey itself when unset)
    is_set: bool
    updated_at: datetime | None
    history: list[RecipientChangeWire] | None = None  # only on the signed (own) lookup


# --- miners, tasks, results, root (reference pool-api §3.1–§3.5) ------------------------------------------
#
# Request bodies tolerate unknown keys (Pool's body-auth copy, `gossip`); numbers are bounded so bad
# input is a 422 `{"detail": [...]}` (FastAPI's own shape, which Pool answers too), never a 500.


class BodyAuth(BaseModel):
    """Pool's copy of the auth in the body (`public_address`, `signature`, `message`), when present."""

    model_config = ConfigDict(extra="ignore")

    public_address: str | None = Field(default=None, max_length=256)
    signature: str | None = Field(default=None, max_length=1024)
    message: str | None = Field(default=None, max_length=1024)

    def auth_fields(self) -> dict[str, object]:
        return {"public_address": self.public_address, "signature": self.signature, "message": self.message}


class MinerRecord(BaseModel):
    miner_hotkey: str
    reputation: float
    registered_at: datetime
    last_seen_at: datetime
    leases_completed: int
    evaluations_submitted: int
    evolutions_submitted: int


class RegisterResponse(MinerRecord):
    status: Literal["registered"] = "registered"


class AlgorithmWire(BaseModel):
    id: int
    algorithm_dsl: str
    input_dim: int
    task_type: str


class TaskRequest(BodyAuth):
    task_type: Literal["evolve", "evaluate"] | None = None


class LeaseRequest(BodyAuth):
    task_type: str | None = Field(default=None, max_length=64)
    eval_batch_size: int | None = Field(default=None, ge=2, le=1000)
    seed_batch_size: int | None = Field(default=None, ge=2, le=1000)
    gossip_limit: int | None = Field(default=None, ge=0, le=50)
    sim_window_number: int | None = Field(default=None, ge=0, le=2**31 - 1)


class LeaseResponse(BaseModel):
    lease_id: str
    window_number: int
    timeout_at: datetime
    evolve_budget: int
    task_type: str
    evaluate_algorithms: list[AlgorithmWire]
    seed_algorithms: list[AlgorithmWire]
    gossip: list[AlgorithmWire] = Field(default_factory=list)


class TaskResponse(BaseModel):
    batch_id: str
    task_type: str
    algorithms: list[AlgorithmWire]
    window_number: int
    timeout_at: datetime


class EvaluationWire(BaseModel):
    algorithm_id: int = Field(ge=0, le=2**62)
    score: float


class EvolutionWire(BaseModel):
    model_config = ConfigDict(extra="ignore")

    parent_algorithm_ids: list[Id64] = Field(default_factory=list, max_length=64)
    algorithm_dsl: str = Field(max_length=1024 * 1024)


class LeaseSubmission(BodyAuth):
    evaluations: list[EvaluationWire] = Field(default_factory=list, max_length=1000)
    evolutions: list[EvolutionWire] = Field(default_factory=list, max_length=100)
    iterations: int = Field(default=0, ge=0, le=2**62)
    gossip: dict[str, Any] | None = None


class ParentRef(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: Id64


class EvolutionSubmission(BodyAuth):
    evolved_function: str = Field(max_length=1024 * 1024)
    parent_functions: list[ParentRef] = Field(default_factory=list, max_length=64)


class EvaluationSubmission(BodyAuth):
    evaluations: list[EvaluationWire] = Field(default_factory=list, max_length=1000)
    evaluation_metrics: dict[str, Any] | None = None


class SubmitResponse(BaseModel):
    status: Literal["success"] = "success"
    lease_id: str
    evaluations_accepted: int
    evolutions_accepted: int
    new_algorithm_ids: list[int]
    repeated_evolutions: int
    iterations: int


class PendingEvaluations(BaseModel):
    has_pending_evaluations: bool


class WindowPointsWire(BaseModel):
    window_number: int
    points: float
    evaluator_points: float
    evolver_points: float
    penalty_points: float
    agreements: int
    disagreements: int
    in_consensus: bool


class PoolSummary(BaseModel):
    miners: int
    algorithms: int
    seeds: int
    scored_algorithms: int
    unsettled_algorithms: int
    evaluations: int
    active_leases: int
    last_closed_window: int | None
    window_number: int


class MinerStatsResponse(BaseModel):
    miner: MinerRecord | None  # null until the miner registers
    rank: int | None
    active_assignment: dict[str, Any] | None
    recent_windows: list[WindowPointsWire]
    pool: PoolSummary


class LeaderboardEntry(BaseModel):
    rank: int
    miner_hotkey: str
    reputation: float
    leases_completed: int
    evaluations_submitted: int
    evolutions_submitted: int


class LeaderboardResponse(BaseModel):
    leaderboard: list[LeaderboardEntry]
    count: int


class ResultWire(BaseModel):
    id: int
    result_id: int
    algorithm_id: int
    algorithm_dsl: str
    task_type: str
    input_dim: int
    score: float
    consensus_window: int
    evaluations: int
    miner_hotkey: str | None
    parent_ids: list[int]
    is_seed: bool
    verified: bool
    verified_at: datetime | None
    created_at: datetime


class ResultsResponse(BaseModel):
    results: list[ResultWire]
    count: int


class SotaResponse(BaseModel):
    task_type: str
    sota_score: float | None
    threshold: float | None
    algorithm_id: int | None
    window_number: int | None
    miner_hotkey: str | None


class VerifyResponse(BaseModel):
    status: Literal["verified"] = "verified"
    result_id: int
    verified_at: datetime
