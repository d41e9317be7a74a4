"""Schemathesis over the published OpenAPI of every surface, with signed requests.

One app serves ORO, Pool, claims (with the simulation routes), compute and Bitrecs on a SQLite file,
reached in-process over ASGI. A hook signs each generated request the way its surface authenticates,
with dev keys registered beforehand, so generation gets past 401/403 into the routes themselves:

* ORO: bittensor-auth headers (Alice is the admin and the validator, Bob a miner);
* Pool: `X-Key`/`X-Timestamp`/`X-Signature` over `auth:{ts}` (Bob);
* compute: a client key on `/v1/jobs`, a miner key (and its id in the path or `X-Miner-ID`) on
  `/v1/miners`;
* Bitrecs: a screener session's bearer token on `/validator`, an issued `X-API-Key` on the reads.

Every response must be < 500 and conform to the schema (status code, content type, body: refusals too,
each surface publishing its error envelope for every 4xx), and data that violates the schema must be
refused. Counts are printed at the end (`-s` shows them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import structlog
import yaml
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from proctor.app import create_app
from proctor.config import Settings
from proctor.core.bitrecs import flows as bitrecs_flows
from proctor.core.compute import service as compute_service
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work
from tests.conftest import REGISTRY, running_app
from tests.support.provider_double import ProviderDouble
from tests.support.signing import ALICE, BOB, oro_headers

pytestmark = [pytest.mark.xdist_group("schemathesis"), pytest.mark.timeout(900)]

SURFACES = ["oro", "pool", "claims", "compute", "bitrecs"]
# Cases per operation: schema-valid ones, and fewer schema-violating ones (they cost half as much again
# to generate and mostly meet the same validation layer). About 10,400 requests over ~150 operations,
# about 4 minutes of one core. PROCTOR_FUZZ_SCALE=0.2 for a quick local run, 5 for a long one.
SCALE = float(os.environ.get("PROCTOR_FUZZ_SCALE", "1"))
EXAMPLES = {"positive": max(1, int(70 * SCALE)), "negative": max(1, int(20 * SCALE))}
MIN_REQUESTS = int(10_000 * SCALE)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class Keys:
    """The dev credentials registered before the run, and the client that presents them."""

    compute_client: str = ""
    compute_miner: str = ""
    compute_miner_id: str = ""
    bitrecs_api_key: str = ""
    bitrecs_session: str = ""
    screeners: int = 0
    http: Any = None  # the one in-process client every case is sent with


KEYS = Keys()


def fuzz_settings(tmp: Path, providers: ProviderDouble) -> Settings:
    registry = tmp / "registry.yaml"
    registry.write_text(yaml.safe_dump(REGISTRY))
    return Settings(
        data_dir=tmp / "data",
        database_url=f"sqlite+aiosqlite:///{tmp / 'proctor.db'}",
        registry=str(registry),
        surfaces=SURFACES,
        admin_hotkeys=[ALICE.ss58_address],
        rate_limit_enabled=False,
        claims_simulation=True,
        compute_auto_approve=True,
        compute_poll_max_wait_seconds=0,  # a long poll would only wait out the generated cases
        bitrecs_screener_password="screen-me",
        bitrecs_min_validators=0,
        # Inference providers are the local double (it refuses tokens it did not issue); nothing
        # listens on port 9, so a gist fetch is refused at once (Bitrecs answers 400).
        chutes_api_url=providers.base_url,
        openrouter_api_url=providers.openrouter_api_url,
        github_api_url="http://127.0.0.1:9",
        gist_raw_url="http://127.0.0.1:9",
        run_jobs=False,
        submission_workers=0,
    )


async def register_dev_keys(config: Settings) -> None:
    """Issue the compute and Bitrecs credentials the signing hook presents."""
    async with running_app(config) as (app, client):
        state = app.state.proctor
        now = utcnow()
        async with unit_of_work(state.sessionmaker) as session:
            KEYS.compute_client = (await compute_service.issue_client(session, name="fuzz", now=now)).api_key
        offer = {"name": "rig", "gpu_type": "a100", "gpu_count": 1, "price_per_hour": 1, "max_concurrent": 4}
        response = await client.post("/v1/miners", json=offer)
        assert response.status_code == 201, response.text
        KEYS.compute_miner, KEYS.compute_miner_id = response.json()["api_key"], response.json()["miner_id"]
        core = state.core
        KEYS.bitrecs_api_key = await bitrecs_flows.issue_api_key(core, name="fuzz", now=now)
        screener = await bitrecs_flows.register_screener(
            core, name="screener-1-1", password="screen-me", ip="127.0.0.1", now=now
        )
        KEYS.bitrecs_session = screener.session_id


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    providers = ProviderDouble().start()
    config = fuzz_settings(tmp_path_factory.mktemp("schemathesis"), providers)
    asyncio.run(register_dev_keys(config))
    # Each request logs at INFO; thousands of lines would cost more than the requests.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield create_app(config)
    structlog.reset_defaults()
    providers.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.fixture(scope="module")
def http(fuzz_app: FastAPI) -> Iterator[Any]:
    """One in-process client for every case (a client per call would re-read proxy settings each time)."""
    with asgi.get_client(fuzz_app) as client:
        client.trust_env = False
        KEYS.http = client
        yield client


def pool_headers() -> dict[str, str]:
    ts = str(int(time.time()))
    return {"X-Key": BOB.ss58_address, "X-Timestamp": ts, "X-Signature": BOB.sign(f"auth:{ts}").hex()}


def bitrecs_session(schema: Any) -> str:
    register = schema["/validator/register-as-screener"]["POST"]
    KEYS.screeners += 1
    case = register.Case(body={"name": f"screener-2-{KEYS.screeners}", "password": "screen-me"})
    response = case.call(session=KEYS.http)
    assert response.status_code == 200, response.text
    token: str = response.json()["session_id"]
    return token


def sign(case: Any) -> None:
    """Present the credentials the case's surface expects (ORO, Pool, compute, Bitrecs)."""
    path: str = case.operation.path
    headers = case.headers if case.headers is not None else {}
    if path.startswith(("/v1/admin", "/v1/validator")):
        headers.update(oro_headers(ALICE))
    elif path.startswith(("/v1/miner/", "/v1/auth/whoami")):
        headers.update(oro_headers(BOB))
    elif path.startswith(("/api/v1", "/coldkey_address")):
        headers.update(pool_headers())
    elif path.startswith("/v1/jobs"):
        headers["Authorization"] = f"Bearer {KEYS.compute_client}"
    elif path.startswith("/v1/miners"):
        headers["Authorization"] = f"Bearer {KEYS.compute_miner}"
        if case.path_parameters and "miner_id" in case.path_parameters and random.random() < 0.7:
            case.path_parameters["miner_id"] = KEYS.compute_miner_id
        if "X-Miner-ID" in headers and random.random() < 0.7:
            headers["X-Miner-ID"] = KEYS.compute_miner_id
    elif path == "/validator/disconnect":  # ends the session it names: a fresh one for each case
        headers["Authorization"] = f"Bearer {bitrecs_session(case.operation.schema)}"
    elif path.startswith("/validator"):
        headers["Authorization"] = f"Bearer {KEYS.bitrecs_session}"
    elif path.startswith(("/scoring", "/agent")) and random.random() < 0.9:
        headers["x-api-key"] = KEYS.bitrecs_api_key
    case.headers = headers


# Which surface an operation belongs to, by path prefix (first match wins).
PREFIXES: dict[str, tuple[str, ...]] = {
    "oro": ("/v1/public", "/v1/auth", "/v1/miner/", "/v1/validator", "/v1/admin"),
    "claims": ("/claims",),
    "pool": ("/api/v1", "/coldkey_address", "/status", "/disclaimer.md"),
    "compute": ("/v1/miners", "/v1/jobs"),
    "bitrecs": ("/check", "/submit", "/validator", "/scoring", "/agent"),
}


def surface_of(path: str) -> str | None:
    for name, prefixes in PREFIXES.items():
        if path == prefixes[0].rstrip("/") or path.startswith(prefixes):
            return name
    return None


@dataclass
class Run:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: int = 0
    failures: dict[str, str] = field(default_factory=dict)


def fuzz_operation(operation: Any, mode: GenerationMode, run: Run) -> None:
    """Generate cases for `operation` in `mode`; every failing check is recorded, none raised."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode.value],
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing case is printed as found
        suppress_health_check=list(HealthCheck),
    )
    def one(case: Any) -> None:
        sign(case)
        try:
            response = case.call(session=KEYS.http)
        except Exception as exc:  # the in-process client re-raises what the app answered 500 for
            run.failures.setdefault(
                f"{operation.label} [{mode.value}] raised {type(exc).__name__}", str(exc)[:300]
            )
            run.statuses[500] += 1
            return
        run.requests += 1
        run.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:  # recorded, not raised: every failure of every operation is listed
            for failure in group.exceptions:
                key = f"{operation.label} [{mode.value}] {failure.title} {response.status_code}"
                run.failures.setdefault(key, f"{failure.message[:300]}\n    {case.as_curl_command()[:400]}")

    try:
        one()
    except Unsatisfiable:  # nothing in the operation can be made invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label


RUNS: dict[str, Run] = {}
INFRASTRUCTURE = ("/health", "/metrics", "/blobs/")  # proctor's own, not a peer's surface


@pytest.mark.parametrize("surface", list(PREFIXES))
def test_surface(surface: str, api_schema: Any, http: Any) -> None:
    run = RUNS[surface] = Run()
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if surface_of(operation.path) != surface:
            continue
        run.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, run)
    print(
        f"\nschemathesis {surface}: {run.operations} operations, {run.requests} requests, "
        f"statuses {dict(sorted(run.statuses.items()))}, {len(run.failures)} failing"
    )
    assert run.operations > 0
    assert not run.failures, "\n".join(f"{label}: {text}" for label, text in sorted(run.failures.items()))


# ORO's multipart upload routes answer 422 in either FastAPI's list or ORO's envelope; nothing else may
# leave a refusal's body unpublished.
UNPUBLISHED_REFUSALS = {("/v1/miner/submit", "post", "422"), ("/v1/miner/check", "post", "422")}


def test_every_refusal_publishes_its_body(fuzz_app: FastAPI) -> None:
    """response_schema_conformance checks a 4xx body only against a published schema: each surface's
    error envelope is published for every 4xx its routes list, so refusals are checked too."""
    unpublished = {
        (path, method, status)
        for path, item in fuzz_app.openapi()["paths"].items()
        if surface_of(path)
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if status.startswith("4") and "schema" not in response.get("content", {}).get("application/json", {})
    }
    assert unpublished == UNPUBLISHED_REFUSALS


def test_every_operation_fuzzed_and_enough_requests(api_schema: Any) -> None:
    """Runs after the surfaces (same module, same xdist group): every operation of every surface was
    generated for, and the run sent at least MIN_REQUESTS requests."""
    if set(RUNS) != set(PREFIXES):
        pytest.skip("only some surfaces ran")
    paths = {result.ok().path for result in api_schema.get_all_operations()}
    assert {p for p in paths if surface_of(p) is None and not p.startswith(INFRASTRUCTURE)} == set()
    operations = sum(1 for r in api_schema.get_all_operations() if surface_of(r.ok().path))
    assert sum(run.operations for run in RUNS.values()) == operations
    requests = sum(run.requests for run in RUNS.values())
    server_errors = sum(n for run in RUNS.values() for status, n in run.statuses.items() if status >= 500)
    print(f"\nschemathesis total: {operations} operations, {requests} requests, {server_errors} >= 500")
    assert requests >= MIN_REQUESTS
    assert server_errors == 0
