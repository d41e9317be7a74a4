"""Per-route body limits: a body over its route's limit is a 413 in the surface's own envelope, refused
at once when Content-Length declares it and cut off mid-stream when it does not; nothing is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from sqlalchemy import func, select

from proctor.config import Settings
from proctor.http.bodies import BodyLimitMiddleware, MiB, route_limits
from proctor.http.errors import ErrorRenderers
from proctor.models import WaitlistSignup
from tests.conftest import running_app

DEFAULT_BODY_LIMIT = Settings().max_body_bytes
OVER = b'{"email": "a@b.co", "pad": "' + b"x" * (DEFAULT_BODY_LIMIT + 1) + b'"}'


async def chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_oversize_bodies_are_a_413_in_each_envelope(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(surfaces=["oro", "pool", "compute"], run_jobs=False)
    async with running_app(settings) as (app, client):
        json = {"Content-Type": "application/json"}
        declared = await client.post("/v1/public/waitlist", content=OVER, headers=json)
        assert declared.status_code == 413
        assert declared.json()["error_code"] == "PAYLOAD_TOO_LARGE"  # ORO's flat envelope
        streamed = await client.post("/v1/public/waitlist", content=chunks(OVER), headers=json)
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
        assert streamed.json()["error_code"] == "PAYLOAD_TOO_LARGE"
        pool = await client.post("/api/v1/miners/recipient-coldkey", content=chunks(OVER), headers=json)
        assert pool.status_code == 413 and set(pool.json()) == {"detail"}  # Pool's `{"detail": ...}`
        async with app.state.proctor.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(WaitlistSignup)) == 0
        within = await client.post("/v1/public/waitlist", json={"email": "ann@example.org"})
        assert within.status_code == 200, within.text


def test_limits_by_longest_prefix() -> None:
    settings = Settings()
    middleware = BodyLimitMiddleware(
        None,  # type: ignore[arg-type]
        default_limit=settings.max_body_bytes,
        limits=route_limits(
            submission_max_bytes=settings.submission_max_bytes,
            blob_max_upload_bytes=settings.blob_max_upload_bytes,
            validator_max_body_bytes=settings.validator_max_body_bytes,
        ),
        renderers=ErrorRenderers(),
    )
    assert middleware.limit_for("/v1/public/waitlist") == DEFAULT_BODY_LIMIT
    assert middleware.limit_for("/v1/miner/submit") > settings.submission_max_bytes  # the route's own cap
    assert middleware.limit_for("/blobs/a/b") == settings.blob_max_upload_bytes + 1
    assert middleware.limit_for("/validator/update-evaluation-run") == 8 * MiB
    assert middleware.limit_for("/api/v1/tasks/lease") == 4 * MiB
    assert middleware.limit_for("/v1/validator/work/claim") == settings.validator_max_body_bytes
