"""AITBC compute wire shapes: the documented miner API (seed 004) and AITBC's client job API.

Field names and meanings are the seed's where it has them (`miner_id`, `api_key`, `status`,
`jobs_assigned`, `queue_length`, `jobs[]`, `result_hash`, `metrics{…}`, the five stats fields) and
AITBC's `JobView` names on the client side (`job_id`, `state`, `assigned_miner_id`, `requested_at`,
`expires_at`, `error`, `payload`, `result`). Extra fields are additions a client may ignore.

Money is a decimal with at most six places, sent and answered as a JSON number (`0.05`), stored as
integer micro-units; every amount proctor answers prints exactly (six places stay exact as JSON
numbers far beyond any bound accepted here).

Integer and float fields of request bodies are strict: a JSON integer (or, for a float, any JSON
number) and nothing else. Python's `bool` is an `int`, so lax validation would read `true` as a GPU
count of 1 and `"2"` as 2; the schema says integer/number, and so does the validator (422 otherwise).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from proctor.core.compute.money import CURRENCY
from proctor.http.params import INT32_MAX, Label

MAX_JOB_PRICE = Decimal(10**9)
MAX_HOURLY_PRICE = Decimal(10**6)
MAX_ESTIMATED_SECONDS = 7 * 24 * 3600
MAX_GPUS = 1024
MAX_CONCURRENT = 256
MAX_METRIC_SECONDS = 10**8

_as_number = PlainSerializer(float, return_type=float, when_used="json")
JobPrice = Annotated[Decimal, Field(ge=0, le=MAX_JOB_PRICE, decimal_places=6), _as_number]
HourlyPrice = Annotated[Decimal, Field(ge=0, le=MAX_HOURLY_PRICE, decimal_places=6), _as_number]
Amount = Annotated[Decimal, _as_number]
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL characters
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=NO_NUL)]
ModelName = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
GpuType = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_NUL)]
Location = Annotated[str, Field(max_length=64, pattern=NO_NUL)]
GpuCount = Annotated[int, Field(ge=1, le=MAX_GPUS, strict=True)]
Concurrency = Annotated[int, Field(ge=1, le=MAX_CONCURRENT, strict=True)]
Seconds = Annotated[float, Field(ge=0, le=MAX_METRIC_SECONDS, allow_inf_nan=False, strict=True)]
# "sha256:<hex>" as in the seed, or bare hex: an algorithm name, then 32-128 hex digits.
ResultHash = Annotated[str, Field(pattern=r"^([A-Za-z0-9_-]{1,16}:)?[0-9a-fA-F]{32,128}$", max_length=150)]


# --- miners ---------------------------------------------------------------------------------------


class MinerRegister(BaseModel):
    name: Name
    gpu_type: GpuType
    gpu_count: GpuCount = 1
    location: Location | None = None
    price_per_hour: HourlyPrice
    max_concurrent: Concurrency = 1


class MinerRegistered(BaseModel):
    miner_id: str
    api_key: str = Field(description="Shown once; send it as `Authorization: Bearer …` or `X-Api-Key`.")
    status: str


class MinerUpdate(BaseModel):
    """Any subset of the offer; omitted fields stay as they are (an empty location clears it)."""

    name: Name | None = None
    gpu_type: GpuType | None = None
    gpu_count: GpuCount | None = None
    location: Location | None = None
    price_per_hour: HourlyPrice | None = None
    max_concurrent: Concurrency | None = None


class MinerView(BaseModel):
    miner_id: str
    name: str
    gpu_type: str
    gpu_count: int
    location: str | None
    price_per_hour: Amount
    max_concurrent: int
    status: str = Field(description="pending, active, offline or suspended")
    registered_at: datetime
    approved_at: datetime | None
    last_heartbeat_at: datetime | None


class HeartbeatResponse(BaseModel):
    status: str = "ok"
    jobs_assigned: int = Field(description="Jobs this miner holds (their leases were just renewed).")
    queue_length: int = Field(description="Queued jobs this miner could run.")
    miner_status: str


class AvailableJob(BaseModel):
    job_id: str
    model: str
    gpu_type: str | None
    gpu_count: int
    estimated_time: int
    price: Amount
    requested_at: datetime
    expires_at: datetime


class AvailableJobs(BaseModel):
    jobs: list[AvailableJob]


class AssignedJob(BaseModel):
    job_id: str
    state: str
    model: str
    gpu_type: str | None
    gpu_count: int
    estimated_time: int
    price: Amount
    payload: dict[str, Any]
    attempt: int
    accepted_at: datetime
    lease_expires_at: datetime = Field(description="Heartbeats renew it; complete before it lapses.")
    deadline_at: datetime = Field(description="Heartbeats never extend the lease past this.")


class AssignedJobs(BaseModel):
    jobs: list[AssignedJob]


class CompletionMetrics(BaseModel):
    execution_time_seconds: Seconds
    gpu_time_seconds: Seconds


class CompleteRequest(BaseModel):
    result_hash: ResultHash
    metrics: CompletionMetrics
    result: dict[str, Any] | None = Field(default=None, description="Optional output handed to the client.")


class CompleteResponse(BaseModel):
    job_id: str
    state: str
    earned: Amount
    currency: str = CURRENCY


class FailRequest(BaseModel):
    error_message: str = Field(default="", max_length=2000, pattern=NO_NUL)


class FailResponse(BaseModel):
    job_id: str
    state: str = Field(description="QUEUED when it went back for another miner, FAILED at the retry limit.")
    attempts: int
    max_attempts: int


class MinerStatsResponse(BaseModel):
    total_jobs: int = Field(description="Attempts that ended: completed, failed or abandoned.")
    success_rate: float
    average_completion_time: float = Field(description="Seconds from accept to complete.")
    earnings: Amount
    earnings_per_gpu_hour: Amount
    completed_jobs: int
    failed_jobs: int
    running_jobs: int
    gpu_hours: float
    earnings_micro: int = Field(description="earnings in integer micro-units (exact)")
    currency: str = CURRENCY


# --- jobs (client side) ---------------------------------------------------------------------------


class AitbcConstraints(BaseModel):
    """AITBC's `Constraints`: the ones proctor matches on, and the ones it cannot honour (refused when set,
    rather than silently ignored). Unknown keys are kept and handed to the miner with the job."""

    model_config = ConfigDict(extra="allow")

    gpu: GpuType | None = Field(default=None, description="GPU name the miner must have.")
    region: Location | None = None
    min_vram_gb: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False, strict=True)] | None = None
    models: Annotated[list[ModelName], Field(max_length=16)] | None = None
    max_price: HourlyPrice | None = Field(
        default=None, description="The miner's price per hour at most this."
    )
    # Not honoured by proctor: a job asking for one is refused with 400 UNSUPPORTED_CONSTRAINT.
    cuda: Label | None = None
    min_reputation: Annotated[float, Field(strict=True)] | None = None
    zk_proof_required: bool = False
    tee_attestation_required: bool = False
    tee_enclave_id: Label | None = None
    confidential: bool = False
    required_enclave_measurement: Label | None = None
    bond_required: bool = False
    min_bond_amount: Annotated[float, Field(strict=True)] | None = None


UNSUPPORTED_CONSTRAINTS = (
    "cuda",
    "min_reputation",
    "zk_proof_required",
    "tee_attestation_required",
    "tee_enclave_id",
    "confidential",
    "required_enclave_measurement",
    "bond_required",
    "min_bond_amount",
)


class JobCreate(BaseModel):
    """Either wire shape: the documented one (`model`, `estimated_time`, `price` at the top) or AITBC's
    code (`payload{type,prompt,model}`, `constraints{}`, `ttl_seconds`, optional `payment_amount`)."""

    model: Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)] | None = Field(
        default=None, description="Default: payload.model, else payload.type."
    )
    gpu_type: GpuType | None = Field(default=None, description="None: any GPU type.")
    gpu_count: GpuCount | None = Field(default=None, description="Default 1 (documented shape), else none.")
    estimated_time: (
        Annotated[int, Field(ge=1, le=MAX_ESTIMATED_SECONDS, strict=True, description="seconds")] | None
    ) = None
    price: JobPrice | None = Field(default=None, description="What the job pays its miner on completion.")
    payload: dict[str, Any] = Field(default_factory=dict)
    ttl_seconds: Annotated[int, Field(ge=1, le=INT32_MAX, strict=True)] | None = Field(
        default=None, description="How long it may wait for a miner (server default when omitted)."
    )
    constraints: AitbcConstraints | None = None
    payment_amount: JobPrice | None = Field(default=None, description="AITBC's name for `price`.")
    payment_currency: Annotated[str, Field(max_length=16)] | None = None
    buyer_address: Annotated[str, Field(max_length=200)] | None = None
    provider_address: Annotated[str, Field(max_length=200)] | None = None


class JobView(BaseModel):
    job_id: str
    state: str = Field(description="QUEUED, RUNNING, COMPLETED, FAILED, CANCELED or EXPIRED")
    model: str
    gpu_type: str | None
    gpu_count: int
    estimated_time: int
    price: Amount
    currency: str = CURRENCY
    payload: dict[str, Any]
    ttl_seconds: int
    attempts: int
    assigned_miner_id: str | None
    requested_at: datetime
    expires_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_hash: str | None
    error: str | None
    constraints: dict[str, Any] | None = None
    payment_id: str | None = Field(default=None, description="Always null: proctor keeps no escrow.")
    payment_status: str | None = None


class JobList(BaseModel):
    jobs: list[JobView]
    limit: int
    offset: int


class JobResult(BaseModel):
    job_id: str
    state: str
    result_hash: str
    result: dict[str, Any] | None
    metrics: dict[str, Any] | None
    miner_id: str | None
    completed_at: datetime | None


# --- AITBC's real miner (apps/miner/production_miner.py) ------------------------------------------


class AitbcGpu(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: Annotated[str, Field(max_length=64, pattern=NO_NUL)] = ""
    memory_mb: Annotated[int, Field(ge=0, le=10**8, strict=True)] = 0


class AitbcCapabilities(BaseModel):
    model_config = ConfigDict(extra="allow")

    gpus: Annotated[list[AitbcGpu], Field(max_length=MAX_GPUS)] = Field(default_factory=list)
    models: Annotated[list[ModelName], Field(max_length=1000)] = Field(default_factory=list)
    price: HourlyPrice = Field(default=Decimal(0), description="The miner's price, read as per hour.")
    region: Location | None = None
    max_concurrent_jobs: Concurrency | None = None


class AitbcRegister(BaseModel):
    model_config = ConfigDict(extra="allow")

    capabilities: AitbcCapabilities = Field(default_factory=AitbcCapabilities)
    concurrency: Concurrency = 1
    region: Location | None = None


class AitbcRegistered(BaseModel):
    status: str = "ok"
    session_token: str
    miner_id: str


class AitbcOk(BaseModel):
    status: str = "ok"


class AitbcPoll(BaseModel):
    model_config = ConfigDict(extra="allow")

    max_wait_seconds: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False, strict=True)] = 15


class AitbcAssignedJob(BaseModel):
    job_id: str
    payload: dict[str, Any]
    constraints: dict[str, Any]
    lease_expires_at: datetime


class AitbcResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    result: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class AitbcResultResponse(BaseModel):
    status: str = "ok"
    job_id: str
    state: str
    earned: Amount
    currency: str = CURRENCY
    receipt: dict[str, Any] | None = Field(default=None, description="Always null: no receipts are signed.")


class AitbcFail(BaseModel):
    model_config = ConfigDict(extra="allow")

    error_code: Annotated[str, Field(max_length=100)] | None = None
    error_message: Annotated[str, Field(max_length=2000, pattern=NO_NUL)] = ""
    metrics: dict[str, Any] = Field(default_factory=dict)


class AitbcFailResponse(BaseModel):
    status: str = "ok"
    job_id: str
    state: str
    attempts: int
