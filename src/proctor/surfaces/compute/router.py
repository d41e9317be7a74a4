"""The AITBC compute surface: the documented miner API (seed 004) and AITBC's client job routes.

AITBC's published miner API (docs/mining/7_api-miner.md) and its coordinator's code describe two
different protocols (reference bitrecs-and-aitbc.md, Part 2 and Part 3). proctor serves the
**documented** API, built on the shared lease engine, and fixes what the code gets wrong. The choices:

- **Accept model, not poll.** `GET /v1/miners/{id}/jobs/available` + `POST …/jobs/{job}/accept`
  (409 when another miner got it first), as documented; AITBC's code has only `POST /miners/poll`,
  which both matches and assigns, and can hand one job to two miners (SELECT, then UPDATE, no lock).
  Here accepting is atomic (row locks + `SKIP LOCKED`, and a unique index as the last word).
- **Registration issues the key.** `POST /v1/miners` returns `{miner_id, api_key, status:"pending"}`
  as documented; AITBC's code expects pre-provisioned keys and a self-asserted `X-Miner-ID`. The key
  is stored as a SHA-256 digest and authenticates every later call (`Authorization: Bearer` or
  `X-Api-Key`); the miner id comes from the key, never from a header. An operator approves pending
  miners (`proctor compute miners approve`) unless `PROCTOR_COMPUTE_AUTO_APPROVE` is on.
- **Own id only.** Every `/v1/miners/{miner_id}/…` route acts on the caller's own id; any other id
  answers 404 exactly like an unknown one (AITBC's `PUT …/capabilities` ignores the path id and its
  `DELETE` deregisters anyone's).
- **The server keeps the books.** The heartbeat body is ignored (AITBC lets it overwrite `inflight`
  and `status`); `jobs_assigned` and capacity come from the leases. A miner silent past
  `PROCTOR_COMPUTE_HEARTBEAT_TIMEOUT_SECONDS` goes offline and its jobs return to the queue (AITBC
  defines that timeout and never uses it, so a dead miner's jobs sat RUNNING until their ttl).
- **Completion is bound to the lease holder** and a live lease (AITBC's `/miners/{job_id}/result`
  completes any job for any key holder, in any state). It is idempotent; the ledger pays the job's
  `price`, set by the client at creation, exactly once; no miner-supplied price is believed.
- **A working fail route.** `POST …/jobs/{job}/fail {error_message}` re-queues for another miner or
  fails the job at `PROCTOR_COMPUTE_MAX_ATTEMPTS` (AITBC's version of this route raises TypeError).
- **Matching on the documented offer**: GPU type, GPU count, `price ≥ price_per_hour × estimated
  hours`, a free slot under `max_concurrent` (AITBC's code matches none of these fields).
- **Clients** use operator-issued API keys (`proctor compute clients issue`) instead of AITBC's
  wallet-signature login, on AITBC's own paths: `POST /v1/jobs` (201), `GET /v1/jobs`,
  `GET /v1/jobs/{id}`, `GET /v1/jobs/{id}/result` (425 while not ready, as AITBC; 409 once it never
  will be), `POST /v1/jobs/{id}/cancel` (queued jobs only). Job states keep AITBC's names.
- **Errors** are FastAPI's `{"detail": …}` (AITBC's shape) plus `error_code`; 400 for a request the
  server's policy refuses, 401, 403 for the caller's own standing (pending, offline, suspended), 404,
  409, 422 (FastAPI's validation list), 425, 429 with `Retry-After`.
- **Rate limits** as documented, per API key instead of AITBC's per-IP buckets:
  `PROCTOR_COMPUTE_RATE_LIMIT_REQUESTS` (60/minute, every miner call) and
  `PROCTOR_COMPUTE_RATE_LIMIT_JOB_OPS` (10/minute: accept, complete, fail; create and cancel for
  clients); clients have `PROCTOR_COMPUTE_RATE_LIMIT_CLIENT`; registration is limited per IP.
"""

from __future__ import annotations

from fastapi import FastAPI

from proctor.http.errors import ErrorRenderers
from proctor.http.surface import document_errors, mount_group
from proctor.surfaces.compute import jobs as job_routes
from proctor.surfaces.compute import miners, poll
from proctor.surfaces.compute.errors import ComputeError, render_compute


def mount(app: FastAPI, renderers: ErrorRenderers) -> None:
    """Attach the miner and job route groups; both answer errors in the compute envelope."""
    mount_group(app, renderers, "/v1/miners", [poll.router, miners.router], render_compute)
    mount_group(app, renderers, "/v1/jobs", [job_routes.router], render_compute)
    # A mount matches only paths below its prefix; the bare collection paths live on the root app.
    for router in (miners.root, job_routes.root):
        document_errors(router.routes, envelope=ComputeError)  # their paths are the groups' prefixes
        app.include_router(router)
