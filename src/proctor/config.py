"""The one settings object: `PROCTOR_*` environment variables, then an optional TOML file, then defaults.

Every entry point (serve, worker, admin CLI, tests) builds its `Settings` through `load_settings`, so an
admin command writes the same database the server reads.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "changethis", "secret"})


class Env(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Runtime configuration. Field `foo` is set by `PROCTOR_FOO` or `foo = ...` in the TOML file."""

    model_config = SettingsConfigDict(env_prefix="PROCTOR_", extra="ignore", validate_default=True)

    env: Env = Env.DEV
    data_dir: Path = Path(".proctor")
    database_url: str = ""  # empty: SQLite file under data_dir
    redis_url: str = ""  # empty: in-process nonce store and rate limiter
    # One pool per process, shared by the nonce store and the rate limiter. When every connection is
    # busy a request waits up to the timeout for one (then 503), instead of failing at once.
    redis_max_connections: int = Field(default=50, ge=1)
    redis_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    blob_url: str = ""  # empty: file:// folder under data_dir; or s3://bucket
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    blob_url_ttl_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)  # presigned URLs (S3 max: 7 days)
    blob_max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=0)  # largest presigned upload
    public_url: str = ""  # base URL clients reach this server at (for self-served signed links)
    secret_key: str = ""  # encrypts stored secrets and signs local blob URLs; required in production
    # Keys being rotated out: still decrypt stored credentials and verify blob URLs, never encrypt or sign.
    previous_secret_keys: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)

    # Who is who. "open": any valid key is a registered miner; else a YAML/JSON path, or "chain".
    registry: str = "open"
    registry_refresh_seconds: float = 2.0
    registry_max_age_seconds: float = 1200.0
    chain_network: str = "finney"
    chain_netuid: int = 0
    admin_hotkeys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    validator_min_stake: float = 0.0

    # ORO request auth (reference §3).
    auth_skew_seconds: int = 60
    auth_max_nonce_length: int = 256
    challenge_ttl_seconds: int = 60
    session_ttl_seconds: int = 7200

    # Rate limits, `limits` notation ("100/minute", "10 per second").
    rate_limit_enabled: bool = True
    rate_limit_global: str = "100/minute"
    rate_limit_submit: str = "1/minute"
    rate_limit_auth_challenge: str = "10/minute"
    rate_limit_auth_session: str = "5/minute"
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Request bodies (proctor.http.bodies): larger ones are refused with 413 before a route reads them.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # every route without its own limit
    validator_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)  # ORO /v1/validator/* reports
    max_header_bytes: int = Field(default=32 * 1024, ge=4096)  # all request headers together: else 431

    # Submissions (reference oro-api §4.3, §8).
    submission_max_bytes: int = 1024 * 1024
    submission_cooldown_seconds: int = 12 * 3600
    submission_reduced_cooldown_seconds: int = 15 * 60  # after a security violation: fix and retry
    rate_limit_check: str = "30/minute"  # per hotkey, for the dry run
    submission_workers: int = 1  # processes judging uploads off the event loop (0: a thread)
    submission_check_timeout_seconds: float = 20.0  # longer to judge: refused as too complex

    # Evaluation (reference oro-api §4.4, §7): leases, aggregation, release, top agent.
    eval_required_successes: int = 2  # successful runs from distinct validators to close a work item
    eval_max_failures: int = 3  # failed runs from distinct validators that discard a version
    eval_lease_seconds: int = 180  # validators heartbeat every 30 s
    eval_aggregation: str = "median"  # or "mean": how validator scores become the final score
    # A claim from a validator that already holds a live run answers that run again (same id, lease
    # renewed), so a claim answer lost on the way costs nothing; false keeps ORO's strict 409.
    eval_claim_returns_held_run: bool = True
    code_release_delay_seconds: int = 24 * 3600  # eligible agents' code becomes public after this
    top_margin: float = 0.05  # a challenger must beat the incumbent's score by this fraction
    top_emission_weight: float = 1.0  # share of emissions to the top miner (the rest is burned)
    # /v1/public/top-miner-payout: the subnet's daily miner emission in TAO and a TAO price, as the
    # operator knows them (proctor fetches nothing); unset answers null.
    miner_tao_per_day: float | None = Field(None, ge=0)
    tao_price_usd: float | None = Field(None, ge=0)
    # /v1/public/inference/models: the Chutes models validators may use for agents' inference.
    inference_models: Annotated[list[str], NoDecode] = Field(default_factory=list)
    reaper_interval_seconds: float = 5.0

    # Races (reference oro-api §4.1, §4.3, §7.4): ORO's second phase. Off: qualifying alone crowns the
    # top. On: the race job opens a race per active suite, closes qualifying when the window ends
    # (or `proctor admin race close-qualifying`), and only a race winner changes the top.
    race_enabled: bool = False
    race_field_size: int = Field(8, ge=1)  # qualifiers per race, the incumbent included
    race_qualifying_seconds: int = Field(24 * 3600, ge=0)  # qualifying window of a new race
    race_deadline_seconds: int = Field(12 * 3600, ge=60)  # race phase limit: stragglers are marked
    race_required_successes: int = Field(2, ge=1)  # race runs from distinct validators per qualifier
    race_min_qualifying_score: float = Field(0.0, ge=0.0, le=1.0)  # qualifying threshold (final score)
    race_interval_seconds: float = 30.0  # the race job's tick (0: off; close by command)
    run_jobs: bool = True  # run periodic jobs inside `proctor serve` (one replica at a time on PostgreSQL)
    # `proctor serve` worker processes (uvicorn). The periodic jobs run in one of them: the worker
    # holding the lock file `<data_dir>/jobs.lock` (taken over by its replacement if it dies).
    workers: int = Field(1, ge=1, le=64)

    surfaces: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["oro", "dashboard"])
    # The web dashboard (surface `dashboard`, at / and /dashboard/*): while a replica has pages open it
    # polls the shared database this often for live events (runs claimed, progress, completions, epochs).
    dashboard_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    # PostgreSQL connections per process. Overflow connections are opened and closed per checkout, so
    # the steady pool is the larger part (a 10 + 20 split reconnected 1,308 times in one 3,000-request
    # compute bench); beyond pool + overflow a request waits for a connection (then 503).
    db_pool_size: int = Field(default=20, ge=1)
    db_pool_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    # A `SELECT 1` before each checkout. Off by default: it is a round trip on every request, and after
    # a database restart SQLAlchemy invalidates the whole pool on the first disconnect it sees (that
    # request gets a 503 with Retry-After; the next ones reconnect).
    db_pool_pre_ping: bool = False
    health_db_timeout_seconds: float = 2.0
    otel_enabled: bool = False  # FastAPI's OpenTelemetry spans/metrics; proctor exports Prometheus itself
    log_level: str = "INFO"
    log_json: bool = False

    # Miners' inference-provider credentials (ORO reference §4.3): where the provider adapters call.
    chutes_api_url: str = "https://api.chutes.ai"  # OAuth token endpoint lives at /idp/token
    chutes_inference_url: str = "https://llm.chutes.ai/v1"  # base_url handed to validators
    chutes_client_id: str = "cid_qstkn2eb4uszxski1rdqk062"  # the `oro` CLI's public OAuth client
    openrouter_api_url: str = "https://openrouter.ai/api/v1"
    openrouter_run_credit_limit: float = 1.0  # USD cap on each per-run OpenRouter key
    provider_timeout_seconds: float = 10.0

    # GPU compute marketplace (AITBC miner API, seed 004).
    compute_auto_approve: bool = False  # new miners start active instead of pending an operator's approval
    compute_heartbeat_timeout_seconds: int = Field(default=60, ge=1)  # silent longer: offline, jobs re-queued
    compute_max_attempts: int = Field(default=3, ge=1)  # a job failed or abandoned this often is FAILED
    compute_run_deadline_factor: float = Field(default=3.0, ge=1.0)  # a run may last estimated_time × this
    compute_run_deadline_grace_seconds: int = Field(default=300, ge=0)  # … plus this
    compute_default_ttl_seconds: int = Field(default=900, ge=1)  # how long a job may wait in the queue
    compute_max_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    compute_max_payload_bytes: int = Field(default=64 * 1024, ge=2)  # job payloads and results, as JSON
    compute_reaper_interval_seconds: float = Field(default=5.0, gt=0)
    compute_rate_limit_requests: str = "60/minute"  # per miner API key, every miner call
    compute_rate_limit_job_ops: str = "10/minute"  # per API key: accept, complete, fail; create, cancel
    compute_rate_limit_client: str = "600/minute"  # per client API key, every client call
    compute_rate_limit_register: str = "10/minute"  # per client IP, miner registration
    # AITBC's real-miner protocol (POST /v1/miners/register|heartbeat|poll, /v1/miners/{job}/result|fail)
    # and AITBC-shaped job creation (payload.model, constraints{}, no estimated_time/price).
    compute_poll_max_wait_seconds: float = Field(default=30.0, ge=0)  # cap on a poll's max_wait_seconds
    compute_poll_recheck_seconds: float = Field(default=30.0, gt=0)  # an idle miner re-reads the queue
    compute_default_estimated_time: int = Field(default=300, ge=1)  # seconds, for a job that names none
    compute_default_job_price: Decimal = Field(default=Decimal("0.01"), ge=0, decimal_places=6)  # … no price

    # Reward epochs, Pool recipient coldkeys and the Merkle claim app (reference pool-api §2, §3.6, §5.3).
    claims_enabled: bool = False  # mount the claim app (also when "claims" is in PROCTOR_SURFACES)
    claims_path_prefix: str = "/claims"  # where the claim app is mounted on `proctor serve`
    claims_simulation: bool = False  # POST /epoch/claim and /ledger: verify claims, pay into a ledger
    claims_port: int = Field(default=8844, ge=1, le=65535)  # `proctor claims serve`
    claims_tree_cache_mb: int = Field(default=512, ge=1)  # published trees kept in memory per process
    pool_auth_skew_seconds: int = Field(default=300, ge=1)  # Pool's X-Timestamp window, either side
    epoch_publish_interval_seconds: float = Field(default=0.0, ge=0)  # periodic publisher; 0: off
    epoch_budget_units: int = Field(default=0, ge=0, le=2**63 - 1)  # units each periodic epoch splits
    epoch_scores: str = ""  # snapshot file or http(s) URL; empty: proctor's own (ORO top policy)
    epoch_scores_max_mb: int = Field(default=512, ge=1)
    epoch_scores_timeout_seconds: float = Field(default=30.0, gt=0)
    # Bitrecs (SN122) gated gist submissions, screening and validators (reference bitrecs-and-aitbc Part 1).
    bitrecs_version: str = "2.0.2"  # the server version /submit's transport signature names (the CLI's)
    bitrecs_rate_limit: str = "30/minute"  # /check and /submit, per client IP
    bitrecs_min_validators: int = Field(default=3, ge=0)  # connected validators needed to submit; 0: off
    bitrecs_artifacts_per_interval: int = Field(default=50, ge=1)  # global submission rate …
    bitrecs_artifact_interval_seconds: int = Field(default=3600, ge=1)  # … per this window
    bitrecs_timestamp_skew_seconds: int = Field(default=300, ge=1)  # /submit's X-Timestamp window
    bitrecs_allowed_providers: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["CHUTES"])
    bitrecs_similarity_threshold: float = Field(default=0.98, ge=0, le=1)  # template similarity: 409 at/above
    bitrecs_yaml_max_bytes: int = Field(default=1024 * 1024, ge=1024)  # a gist larger than this is refused
    github_api_url: str = "https://api.github.com"
    gist_raw_url: str = "https://gist.githubusercontent.com"
    github_token: str = ""  # optional: raises GitHub's anonymous rate limit
    github_timeout_seconds: float = Field(default=10.0, gt=0)
    github_cache_seconds: float = Field(default=30.0, ge=0)  # gist metadata and text kept this long
    bitrecs_screener_password: str = ""  # register-as-screener; empty: screeners cannot register
    bitrecs_heartbeat_timeout_seconds: int = Field(default=60, ge=1)  # silent longer: session and runs end
    bitrecs_screener_1_threshold: float = 0.3
    bitrecs_screener_2_threshold: float = 0.4
    bitrecs_prune_threshold: float = 0.9  # screener 2 must also reach top final score × this
    bitrecs_evals_per_agent: int = Field(default=3, ge=1)  # NUM_EVALS_PER_AGENT
    bitrecs_max_total_evals_factor: int = Field(default=3, ge=1)  # runaway cap: evals_per_agent × this
    bitrecs_screener_1_problems: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["bitrecs_basic_daily"]
    )
    bitrecs_screener_2_problems: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["safe", "haystack", "qos"]
    )
    bitrecs_validator_problems: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["predict", "prompt", "reason", "sku"]
    )
    bitrecs_subset_weighting: str = "linear"  # winner-takes-all subset weight: linear | exponential
    bitrecs_reaper_interval_seconds: float = Field(default=5.0, ge=0)  # dead sessions' evaluations; 0: off

    # BitSOTA Pool (seed 002, reference pool-api §3.3, §5.2, §5.4). Epoch scores from Pool's own
    # consensus: PROCTOR_EPOCH_SCORES=pool.
    pool_window_blocks: int = Field(default=360, ge=1)  # window = block // this (72 min at 12 s blocks)
    pool_block_seconds: float = Field(default=12.0, gt=0)  # wall-clock block when the registry is not chain
    pool_enforce_window: bool = True  # at most one lease per miner per window
    pool_lease_seconds: int = Field(default=900, ge=10)  # a lease's timeout_at
    pool_lease_min_iterations: int = Field(default=0, ge=0)  # Pool's LEASE_MIN_ITERATIONS
    pool_evolve_budget: int = Field(default=1, ge=0, le=16)  # evolutions a lease may submit
    pool_max_batch_size: int = Field(default=32, ge=2)  # eval/seed batch sizes are clamped to this
    pool_eval_required: int = Field(default=3, ge=1)  # evaluations (distinct miners) wanted per candidate
    pool_bootstrap_min_candidates: int = Field(default=2, ge=0)  # fewer open candidates: seeds are evaluated
    pool_consensus_threshold: int = Field(default=2, ge=1)  # k: members a consensus cluster needs
    pool_consensus_tolerance: float = Field(default=0.1, ge=0)  # cluster spread / |score| at most this
    pool_consensus_abs_tolerance: float = Field(default=1e-6, ge=0)  # … or at most this, near zero
    pool_evaluator_weight: float = Field(default=1.0, ge=0)  # points per net agreement
    pool_evolver_weight: float = Field(default=10.0, ge=0)  # points per unit of improvement over SOTA
    pool_repetition_penalty: float = Field(default=0.5, ge=0)  # points lost per evolution already known
    pool_min_reward_activity: int = Field(default=1, ge=0)  # evaluations + evolutions a window needs to pay
    pool_default_task_type: str = "cifar10_binary"
    pool_default_input_dim: int = Field(default=16, ge=1)
    pool_max_dsl_bytes: int = Field(default=64 * 1024, ge=64)
    pool_reaper_interval_seconds: float = Field(default=10.0, ge=0)  # lapsed leases back to the queue; 0: off
    pool_consensus_interval_seconds: float = Field(default=60.0, ge=0)  # closes ended windows; 0: off
    pool_disclaimer_file: str = ""  # markdown served at /disclaimer.md; empty: a built-in text
    pool_monitor_token: str = ""  # when set, /api/v1/monitor/summary needs X-Monitor-Token
    pool_publisher_hotkey: str = ""  # reported as onchain_runtime.accounts.publisher

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("PROCTOR_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @field_validator(
        "admin_hotkeys",
        "surfaces",
        "trusted_proxies",
        "bitrecs_allowed_providers",
        "bitrecs_screener_1_problems",
        "bitrecs_screener_2_problems",
        "bitrecs_validator_problems",
        "inference_models",
        "previous_secret_keys",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        # Environment variables carry lists as "a,b,c" or as JSON ('["a","b"]').
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _rate_limits_parse(self) -> Settings:
        # A typo in a limit must stop the server at start-up, not turn requests into 500s later.
        from limits import parse

        for name, value in self.model_dump().items():
            if name.startswith(("rate_limit_", "compute_rate_limit_", "bitrecs_rate_limit")) and isinstance(
                value, str
            ):
                try:
                    parse(value)
                except ValueError as exc:
                    raise ValueError(f"{name}={value!r} is not a rate limit such as '100/minute'") from exc
        return self

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.env == Env.PRODUCTION:
            if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS or len(self.secret_key) < 32:
                raise ValueError(
                    "PROCTOR_SECRET_KEY must be set to a random value of 32+ characters in production "
                    "(it encrypts stored credentials); generate one with `proctor admin secret-key`"
                )
            if self.registry == "open":
                raise ValueError("PROCTOR_REGISTRY=open is for local play; set a registry file or 'chain'")
        return self

    @model_validator(mode="after")
    def _claims_and_epochs(self) -> Settings:
        # PROCTOR_CLAIMS_ENABLED mounts the claim app whatever PROCTOR_SURFACES lists.
        if self.claims_enabled and "claims" not in self.surfaces:
            self.surfaces = [*self.surfaces, "claims"]
        self.claims_enabled = "claims" in self.surfaces
        prefix = "/" + self.claims_path_prefix.strip().strip("/")
        if prefix == "/":
            raise ValueError(
                "PROCTOR_CLAIMS_PATH_PREFIX must not be empty (run `proctor claims serve` instead)"
            )
        self.claims_path_prefix = prefix
        if self.epoch_publish_interval_seconds > 0 and self.epoch_budget_units <= 0:
            raise ValueError("PROCTOR_EPOCH_PUBLISH_INTERVAL_SECONDS needs PROCTOR_EPOCH_BUDGET_UNITS > 0")
        return self

    # Derived values -------------------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'proctor.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_blob_url(self) -> str:
        return self.blob_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    @property
    def nonce_ttl_seconds(self) -> int:
        # Twice the skew: a future-dated signature stays unreplayable for its whole validity window.
        return 2 * self.auth_skew_seconds

    @property
    def effective_secret_key(self) -> str:
        """The configured key, or a per-data-dir development key created on first use."""
        if self.secret_key:
            return self.secret_key
        return _dev_secret(self.data_dir)


def _dev_secret(data_dir: Path) -> str:
    path = data_dir / "dev-secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32).hex()
    # O_EXCL: two processes starting together agree on one key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment, an optional TOML file and explicit overrides."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        os.environ["PROCTOR_CONFIG"] = str(path.resolve())
    return Settings(**overrides)
