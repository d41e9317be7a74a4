"""`/blobs/{key}`: the local store's signed download and upload URLs, over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from proctor.storage.blobs import LocalBlobStore, S3BlobStore
from tests.support.s3 import aws_test_credentials, local_blob_app

BASE_URL = "http://proctor.test"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", b"route-secret", max_upload_bytes=1 << 20, clock=clock)


@pytest.fixture
async def http(store: LocalBlobStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=local_blob_app(store))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error_code"] == code and body["detail"]
    return body


# Downloads ----------------------------------------------------------------------------------------


async def test_valid_get_streams_the_blob_with_its_type(
    http: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    payload = b"#!/usr/bin/env python\n" * 50_000  # ~1 MiB: several read chunks
    key = await store.put_content(payload, content_type="text/x-python")
    url = await store.presign_get(key, expires_in=60, base_url=BASE_URL, filename="agent v2 ü.py")
    r = await http.get(url)
    assert r.status_code == 200
    assert r.content == payload
    assert r.headers["content-type"].startswith("text/x-python")
    assert r.headers["content-length"] == str(len(payload))
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    assert r.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''agent%20v2%20%C3%BC.py" in r.headers["content-disposition"]


async def test_blob_without_stored_type_is_octet_stream(
    http: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    await store.put("k/raw", b"\x00\x01", content_type="text/plain")
    (store.path_for("k/raw").with_name("raw~type")).unlink()
    r = await http.get(await store.presign_get("k/raw", expires_in=60, base_url=BASE_URL))
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    "change",
    [
        {"sig": "0" * 64},
        {"sig": "not-hex"},
        {"sig": ""},
        {"expires": "9999999999"},
        {"expires": "soon"},
        {"fn": "other.py"},
    ],
    ids=["wrong-sig", "malformed-sig", "empty-sig", "extended-expiry", "bad-expiry", "other-filename"],
)
async def test_tampered_get_is_refused(
    http: httpx.AsyncClient, store: LocalBlobStore, change: dict[str, str]
) -> None:
    await store.put("k/a", b"secret bytes", content_type="text/plain")
    url = await store.presign_get("k/a", expires_in=60, base_url=BASE_URL, filename="a.txt")
    r = await http.get(_with_query(url, **change))
    assert b"secret bytes" not in r.content
    _error(r, 403, "INVALID_SIGNATURE")


async def test_signature_is_bound_to_the_key(http: httpx.AsyncClient, store: LocalBlobStore) -> None:
    await store.put("k/a", b"a", content_type="text/plain")
    await store.put("k/b", b"b", content_type="text/plain")
    url = await store.presign_get("k/a", expires_in=60, base_url=BASE_URL)
    _error(await http.get(url.replace("/k/a?", "/k/b?")), 403, "INVALID_SIGNATURE")
    _error(await http.get(url.split("?")[0]), 403, "INVALID_SIGNATURE")


async def test_expired_get_is_refused(http: httpx.AsyncClient, store: LocalBlobStore, clock: Clock) -> None:
    await store.put("k/a", b"a", content_type="text/plain")
    url = await store.presign_get("k/a", expires_in=30, base_url=BASE_URL)
    clock.now += 30
    assert (await http.get(url)).status_code == 200, "valid through its last second"
    clock.now += 1
    _error(await http.get(url), 403, "URL_EXPIRED")


async def test_get_of_a_missing_blob_is_404(http: httpx.AsyncClient, store: LocalBlobStore) -> None:
    url = await store.presign_get("k/never", expires_in=60, base_url=BASE_URL)
    _error(await http.get(url), 404, "BLOB_NOT_FOUND")


# Uploads ------------------------------------------------------------------------------------------


async def test_put_of_the_exact_length_is_stored_and_served(
    http: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    body = b"run 7: 12/12 problems passed\n"
    upload = await store.presign_put(
        "logs/run-7.log",
        expires_in=60,
        base_url=BASE_URL,
        content_type="text/plain",
        content_length=len(body),
    )
    r = await http.put(upload.url, content=body, headers=upload.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"key": "logs/run-7.log", "size": len(body), "content_type": "text/plain"}
    served = await http.get(await store.presign_get("logs/run-7.log", expires_in=60, base_url=BASE_URL))
    assert served.content == body and served.headers["content-type"].startswith("text/plain")


async def test_put_too_long_is_413_and_stores_nothing(http: httpx.AsyncClient, store: LocalBlobStore) -> None:
    upload = await store.presign_put(
        "up/a", expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=5
    )
    r = await http.put(upload.url, content=b"123456", headers={"Content-Type": "text/plain"})
    _error(r, 413, "FILE_TOO_LARGE")
    assert not await store.exists("up/a")


async def test_chunked_put_stops_reading_once_past_the_signed_length(
    http: httpx.AsyncClient, store: LocalBlobStore, tmp_path: Path
) -> None:
    upload = await store.presign_put(
        "up/chunked", expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=100
    )
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        # No Content-Length: the body arrives chunked and could go on for ever.
        for _ in range(10_000):
            pulled.append(1)
            yield b"x" * 30

    r = await http.put(upload.url, content=endless(), headers={"Content-Type": "text/plain"})
    _error(r, 413, "FILE_TOO_LARGE")
    assert len(pulled) <= 5, "the server stopped reading right after the limit"
    assert not await store.exists("up/chunked")
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()], "no temp file left behind"


async def test_chunked_put_of_the_exact_length_is_stored(
    http: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    upload = await store.presign_put(
        "up/chunked-ok", expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=90
    )

    async def parts() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * 30

    r = await http.put(upload.url, content=parts(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    assert await store.get("up/chunked-ok") == b"y" * 90


async def test_put_short_is_400_and_stores_nothing(http: httpx.AsyncClient, store: LocalBlobStore) -> None:
    await store.put("up/a", b"previous", content_type="text/plain")
    upload = await store.presign_put(
        "up/a", expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=5
    )
    r = await http.put(upload.url, content=b"1234", headers={"Content-Type": "text/plain"})
    _error(r, 400, "VALIDATION_ERROR")
    assert await store.get("up/a") == b"previous"


async def test_put_with_another_content_type_is_refused(
    http: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    upload = await store.presign_put(
        "up/t", expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=4
    )
    _error(
        await http.put(upload.url, content=b"<a/>", headers={"Content-Type": "text/html"}),
        403,
        "INVALID_SIGNATURE",
    )
    _error(
        await http.put(
            _with_query(upload.url, ct="text/html"), content=b"<a/>", headers={"Content-Type": "text/html"}
        ),
        403,
        "INVALID_SIGNATURE",
    )
    assert not await store.exists("up/t")


@pytest.mark.parametrize("change", [{"max": "1000"}, {"sig": "f" * 64}, {"expires": "9999999999"}])
async def test_tampered_put_is_refused(
    http: httpx.AsyncClient, store: LocalBlobStore, change: dict[str, str]
) -> None:
    upload = await store.presign_put(
        "up/x", expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=4
    )
    r = await http.put(
        _with_query(upload.url, **change), content=b"abcd", headers={"Content-Type": "text/plain"}
    )
    _error(r, 403, "INVALID_SIGNATURE")
    assert not await store.exists("up/x")


async def test_expired_put_is_refused(http: httpx.AsyncClient, store: LocalBlobStore, clock: Clock) -> None:
    upload = await store.presign_put(
        "up/x", expires_in=10, base_url=BASE_URL, content_type="text/plain", content_length=4
    )
    clock.now += 11
    _error(await http.put(upload.url, content=b"abcd", headers=upload.headers), 403, "URL_EXPIRED")
    assert not await store.exists("up/x")


async def test_a_download_signature_does_not_authorise_an_upload(
    http: httpx.AsyncClient, store: LocalBlobStore
) -> None:
    await store.put("k/a", b"orig", content_type="text/plain")
    url = await store.presign_get("k/a", expires_in=60, base_url=BASE_URL)
    r = await http.put(
        _with_query(url, max="4", ct="text/plain"), content=b"evil", headers={"Content-Type": "text/plain"}
    )
    _error(r, 403, "INVALID_SIGNATURE")
    assert await store.get("k/a") == b"orig"


# Traversal and configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/blobs/%2E%2E/secret.txt",
        "/blobs/a/%2E%2E/%2E%2E/secret.txt",
        "/blobs/..%2Fsecret.txt",
        "/blobs/%2Fetc/passwd",
        "/blobs/a%00b",
    ],
)
async def test_key_traversal_is_refused(
    http: httpx.AsyncClient, store: LocalBlobStore, tmp_path: Path, path: str
) -> None:
    (tmp_path / "secret.txt").write_bytes(b"outside the store")
    get = await http.get(path + "?expires=9999999999&sig=" + "0" * 64)
    _error(get, 400, "VALIDATION_ERROR")
    put = await http.put(
        path + "?expires=9999999999&max=3&ct=text%2Fplain&sig=" + "0" * 64,
        content=b"pwn",
        headers={"Content-Type": "text/plain"},
    )
    _error(put, 400, "VALIDATION_ERROR")
    assert (tmp_path / "secret.txt").read_bytes() == b"outside the store"
    assert not (tmp_path / "blobs").exists() or not list((tmp_path / "blobs").rglob("*"))


async def test_routes_answer_404_when_the_store_is_s3(tmp_path: Path) -> None:
    with aws_test_credentials():
        s3 = S3BlobStore("some-bucket", endpoint_url="http://127.0.0.1:9")  # never contacted
    transport = httpx.ASGITransport(app=local_blob_app(s3))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        _error(await client.get("/blobs/k/a?expires=1&sig=" + "0" * 64), 404, "NOT_FOUND")
        r = await client.put("/blobs/k/a?expires=1&max=1&ct=a&sig=" + "0" * 64, content=b"x")
        _error(r, 404, "NOT_FOUND")
    await s3.close()
