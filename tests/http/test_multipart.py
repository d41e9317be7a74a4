"""Streaming multipart: limits are enforced while reading, not after."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from proctor.http.errors import install_error_handlers, render_flat
from proctor.http.multipart import read_upload

LIMIT = 1000


def make_app(seen: dict[str, int]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, lambda _path: render_flat)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, object]:
        original = request.stream

        async def counting() -> AsyncIterator[bytes]:
            async for chunk in original():
                seen["bytes"] = seen.get("bytes", 0) + len(chunk)
                yield chunk

        request.stream = counting  # type: ignore[method-assign]
        form = await read_upload(request, max_file_bytes=LIMIT)
        return {
            "fields": form.fields,
            "filename": form.filename,
            "size": len(form.content or b""),
            "oversized": form.oversized,
        }

    return app


@pytest.fixture
def seen() -> dict[str, int]:
    return {}


@pytest.fixture
async def client(seen: dict[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app(seen)), base_url="http://t") as c:
        yield c


async def test_fields_and_file(client: httpx.AsyncClient) -> None:
    r = await client.post("/upload", data={"agent_name": "a b"}, files={"file": ("agent.py", b"x" * LIMIT)})
    assert r.json() == {
        "fields": {"agent_name": "a b"},
        "filename": "agent.py",
        "size": LIMIT,
        "oversized": False,
    }


async def test_one_byte_over_is_oversized(client: httpx.AsyncClient) -> None:
    r = await client.post("/upload", data={"agent_name": "a"}, files={"file": ("a.py", b"x" * (LIMIT + 1))})
    assert r.json()["oversized"] is True and r.json()["size"] == 0


async def test_reading_stops_at_the_limit_for_streamed_bodies(
    client: httpx.AsyncClient, seen: dict[str, int]
) -> None:
    boundary = "b0undary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.py"\r\n\r\n').encode()

    async def body() -> AsyncIterator[bytes]:  # no Content-Length: the reader has to count
        yield head
        for _ in range(10_000):  # 10 MB if anyone read it all
            yield b"y" * 1024

    r = await client.post(
        "/upload", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert r.json()["oversized"] is True
    assert seen["bytes"] < LIMIT + 70 * 1024, "the rest of the body must not be read"


async def test_declared_length_over_the_cap_is_refused_unread(
    client: httpx.AsyncClient, seen: dict[str, int]
) -> None:
    r = await client.post("/upload", files={"file": ("a.py", b"z" * 200_000)})
    assert r.json()["oversized"] is True
    assert seen.get("bytes", 0) == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"agent_name=x", "application/x-www-form-urlencoded"),
        (b"{}", "application/json"),
        (b"--x\r\ngarbage", "multipart/form-data"),
    ],
)
async def test_not_multipart_is_400(client: httpx.AsyncClient, content: bytes, content_type: str) -> None:
    r = await client.post("/upload", content=content, headers={"content-type": content_type})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_FILE"


async def test_long_text_field_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post("/upload", data={"agent_name": "n" * 5000}, files={"file": ("a.py", b"x")})
    assert r.status_code == 400 and "too long" in r.json()["detail"]
