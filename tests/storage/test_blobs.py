"""The blob store: one behavioural suite run on the local folder and on a real S3-compatible server."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest

from proctor.config import Settings
from proctor.errors import PayloadTooLarge, ValidationFailed
from proctor.storage.blobs import (
    BlobNotFound,
    BlobStore,
    LocalBlobStore,
    S3BlobStore,
    create_blob_store,
    validate_key,
)
from tests.support.s3 import S3Server, local_blob_app, running_s3_server

BASE_URL = "http://proctor.test"


class Clock:
    """A settable wall clock for the local store's URL expiry."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    name: str
    store: BlobStore
    http: httpx.AsyncClient  # reaches the store's presigned URLs
    advance: Callable[[float], None]  # moves the clock that presigned URLs expire by


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with running_s3_server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "local":
        clock = Clock()
        local = LocalBlobStore(tmp_path / "blobs", b"test-secret", max_upload_bytes=1024 * 1024, clock=clock)
        transport = httpx.ASGITransport(app=local_blob_app(local))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:

            def advance(seconds: float) -> None:
                clock.now += seconds

            yield Backend("local", local, http, advance)
        return
    server: S3Server = request.getfixturevalue("s3_server")
    # A fresh bucket per test: isolation, and the store creates it on first use.
    s3 = S3BlobStore(
        f"proctor-{uuid.uuid4().hex[:16]}",
        endpoint_url=server.endpoint_url,
        region="us-east-1",
        max_upload_bytes=1024 * 1024,
    )
    server.checker.skew = 0.0  # the server is shared by the session; each test starts on time
    async with httpx.AsyncClient() as http:
        yield Backend("s3", s3, http, server.advance)
    await s3.close()
    server.checker.skew = 0.0


# Basic operations ---------------------------------------------------------------------------------


async def test_put_get_exists_size_delete(backend: Backend) -> None:
    store = backend.store
    await store.put("logs/run-1/validator.log", b"line 1\nline 2\n", content_type="text/plain")
    assert await store.exists("logs/run-1/validator.log")
    assert await store.size("logs/run-1/validator.log") == 14
    assert await store.get("logs/run-1/validator.log") == b"line 1\nline 2\n"
    await store.delete("logs/run-1/validator.log")
    assert not await store.exists("logs/run-1/validator.log")
    assert await store.size("logs/run-1/validator.log") is None


async def test_put_replaces_the_previous_bytes(backend: Backend) -> None:
    await backend.store.put("k/a", b"first version", content_type="text/plain")
    await backend.store.put("k/a", b"second", content_type="text/plain")
    assert await backend.store.get("k/a") == b"second"
    assert await backend.store.size("k/a") == 6


async def test_empty_and_binary_blobs_round_trip(backend: Backend) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB of every byte value
    await backend.store.put("bin/all-bytes", payload, content_type="application/octet-stream")
    await backend.store.put("bin/empty", b"", content_type="application/octet-stream")
    assert await backend.store.get("bin/all-bytes") == payload
    assert await backend.store.get("bin/empty") == b""
    assert await backend.store.size("bin/empty") == 0


async def test_missing_key_is_blob_not_found(backend: Backend) -> None:
    with pytest.raises(BlobNotFound) as caught:
        await backend.store.get("nothing/here")
    assert caught.value.status == 404
    assert not await backend.store.exists("nothing/here")
    assert await backend.store.size("nothing/here") is None
    await backend.store.delete("nothing/here")  # deleting what is absent is not an error


# Content addressing -------------------------------------------------------------------------------


async def test_same_bytes_give_the_same_key_and_are_stored_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend.store
    writes: list[str] = []
    real_put = store.put

    async def counting_put(key: str, data: bytes, *, content_type: str) -> None:
        writes.append(key)
        await real_put(key, data, content_type=content_type)

    monkeypatch.setattr(store, "put", counting_put)
    code = b"def solve(problem):\n    return 42\n"
    sha = hashlib.sha256(code).hexdigest()
    first = await store.put_content(code, content_type="text/x-python")
    second = await store.put_content(code, content_type="text/x-python")
    assert first == second == f"sha256/{sha[:2]}/{sha}"
    assert writes == [first], "identical content is written once"
    assert await store.get(first) == code
    other = await store.put_content(code + b"\n", content_type="text/x-python")
    assert other != first and writes == [first, other]


async def test_content_prefix_and_concurrent_identical_puts(backend: Backend) -> None:
    data = b"x" * 5000
    keys = await asyncio.gather(
        *(backend.store.put_content(data, content_type="text/plain", prefix="agents") for _ in range(8))
    )
    assert len(set(keys)) == 1 and keys[0].startswith("agents/")
    assert await backend.store.get(keys[0]) == data


# Key validation -----------------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/..",
    "a//b",
    "a/./b",
    "./a",
    "a/",
    "spaces are bad",
    "semi;colon",
    "tilde~type",
    "back\\slash",
    "percent%2e",
    "ünïcode",
    "x" * 513,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_validate_key_refuses_unsafe_keys(key: str) -> None:
    with pytest.raises(ValueError):
        validate_key(key)


def test_validate_key_accepts_ordinary_keys() -> None:
    for key in ["sha256/ab/abcdef", "logs/run-1/v_2.log", "a", "A.B-c_d/e", "x" * 512]:
        assert validate_key(key) == key


async def test_every_operation_validates_the_key(backend: Backend) -> None:
    store = backend.store
    for key in ["../escape", "/abs", "a/../b"]:
        with pytest.raises(ValueError):
            await store.put(key, b"x", content_type="text/plain")
        with pytest.raises(ValueError):
            await store.get(key)
        with pytest.raises(ValueError):
            await store.exists(key)
        with pytest.raises(ValueError):
            await store.size(key)
        with pytest.raises(ValueError):
            await store.delete(key)
        with pytest.raises(ValueError):
            await store.presign_get(key, expires_in=60, base_url=BASE_URL)
        with pytest.raises(ValueError):
            await store.presign_put(
                key, expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=1
            )


# Presigned downloads ------------------------------------------------------------------------------


async def test_presigned_get_serves_the_blob_to_a_plain_http_client(backend: Backend) -> None:
    await backend.store.put("agents/a.py", b"print('hi')\n", content_type="text/x-python")
    url = await backend.store.presign_get(
        "agents/a.py", expires_in=300, base_url=BASE_URL, filename="agent.py"
    )
    r = await backend.http.get(url)
    assert r.status_code == 200
    assert r.content == b"print('hi')\n"
    assert r.headers["content-type"].startswith("text/x-python")
    assert r.headers["content-disposition"].startswith("attachment;")
    assert 'filename="agent.py"' in r.headers["content-disposition"]


async def test_presigned_get_expires(backend: Backend) -> None:
    await backend.store.put("k/exp", b"soon gone", content_type="text/plain")
    url = await backend.store.presign_get("k/exp", expires_in=60, base_url=BASE_URL)
    assert (await backend.http.get(url)).status_code == 200
    backend.advance(120)
    assert (await backend.http.get(url)).status_code == 403


async def test_presigned_get_refuses_a_tampered_url(backend: Backend) -> None:
    await backend.store.put("k/one", b"one", content_type="text/plain")
    await backend.store.put("k/two", b"two", content_type="text/plain")
    url = await backend.store.presign_get("k/one", expires_in=60, base_url=BASE_URL)
    assert (await backend.http.get(url.replace("k/one", "k/two"))).status_code == 403


# Presigned uploads --------------------------------------------------------------------------------


async def test_presigned_put_accepts_exactly_the_signed_length_and_type(backend: Backend) -> None:
    body = b"validator log contents\n"
    upload = await backend.store.presign_put(
        "logs/v1.log", expires_in=300, base_url=BASE_URL, content_type="text/plain", content_length=len(body)
    )
    assert upload.method == "PUT"
    assert upload.headers == {"Content-Type": "text/plain", "Content-Length": str(len(body))}
    assert upload.expires_at.timestamp() == pytest.approx(time.time() + 300, abs=5)
    r = await backend.http.request(upload.method, upload.url, content=body, headers=upload.headers)
    assert r.status_code == 200, r.text
    assert await backend.store.get("logs/v1.log") == body
    served = await backend.http.get(
        await backend.store.presign_get("logs/v1.log", expires_in=60, base_url=BASE_URL)
    )
    assert served.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("sent", [b"0123456789!", b"012345678"], ids=["longer", "shorter"])
async def test_presigned_put_refuses_any_other_length(backend: Backend, sent: bytes) -> None:
    upload = await backend.store.presign_put(
        "up/sized", expires_in=300, base_url=BASE_URL, content_type="text/plain", content_length=10
    )
    # httpx sends the real Content-Length of `sent`, as any client would.
    r = await backend.http.put(upload.url, content=sent, headers={"Content-Type": "text/plain"})
    if backend.name == "s3":
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text  # S3's own refusal
    else:
        assert r.status_code == (413 if len(sent) > 10 else 400), r.text
    assert not await backend.store.exists("up/sized")


async def test_presigned_put_refuses_another_content_type(backend: Backend) -> None:
    upload = await backend.store.presign_put(
        "up/typed", expires_in=300, base_url=BASE_URL, content_type="text/plain", content_length=5
    )
    r = await backend.http.put(upload.url, content=b"<b>!<", headers={"Content-Type": "text/html"})
    assert r.status_code == 403
    assert not await backend.store.exists("up/typed")


async def test_presigned_put_expires(backend: Backend) -> None:
    upload = await backend.store.presign_put(
        "up/late", expires_in=60, base_url=BASE_URL, content_type="text/plain", content_length=4
    )
    backend.advance(120)
    r = await backend.http.put(upload.url, content=b"late", headers=upload.headers)
    assert r.status_code == 403
    assert not await backend.store.exists("up/late")


async def test_presign_refuses_oversized_uploads_and_bad_lifetimes(backend: Backend) -> None:
    store = backend.store
    with pytest.raises(PayloadTooLarge):
        await store.presign_put(
            "up/big",
            expires_in=60,
            base_url=BASE_URL,
            content_type="text/plain",
            content_length=1024 * 1024 + 1,
        )
    with pytest.raises(ValueError):
        await store.presign_put(
            "up/x", expires_in=0, base_url=BASE_URL, content_type="text/plain", content_length=1
        )
    with pytest.raises(ValueError):
        await store.presign_get("up/x", expires_in=8 * 24 * 3600, base_url=BASE_URL)
    with pytest.raises(ValueError):
        await store.presign_put(
            "up/x", expires_in=60, base_url=BASE_URL, content_type="text/plain\r\nX-Evil: 1", content_length=1
        )


# Local folder specifics ---------------------------------------------------------------------------


def _local(tmp_path: Path, clock: Callable[[], float] = time.time) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs", b"test-secret", clock=clock)


def _stray_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if "~tmp" in p.name]


async def test_local_layout_is_plain_files_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = _local(tmp_path)
    key = await store.put_content(b"agent", content_type="text/x-python")
    path = tmp_path / "blobs" / key
    assert path.read_bytes() == b"agent"
    assert path.with_name(path.name + "~type").read_text() == "text/x-python"
    assert _stray_files(tmp_path / "blobs") == []


async def test_local_root_is_created_on_first_write(tmp_path: Path) -> None:
    store = _local(tmp_path)
    assert not (tmp_path / "blobs").exists()
    assert not await store.exists("a/b")
    await store.put("a/b", b"1", content_type="text/plain")
    assert (tmp_path / "blobs" / "a" / "b").is_file()


async def _chunks(parts: list[bytes], pulled: list[int]) -> AsyncIterator[bytes]:
    for part in parts:
        pulled.append(len(part))
        yield part


async def test_local_stream_stops_reading_as_soon_as_the_signed_length_is_passed(tmp_path: Path) -> None:
    store = _local(tmp_path)
    await store.put("k/kept", b"old", content_type="text/plain")
    pulled: list[int] = []
    with pytest.raises(PayloadTooLarge):
        await store.put_stream(
            "k/kept", _chunks([b"x" * 4] * 1000, pulled), content_type="text/plain", length=10
        )
    assert len(pulled) == 3, "reading stops at the chunk that crosses the limit"
    assert await store.get("k/kept") == b"old", "a refused upload leaves the old blob intact"
    assert _stray_files(tmp_path / "blobs") == []


async def test_local_stream_refuses_a_short_body_and_commits_an_exact_one(tmp_path: Path) -> None:
    store = _local(tmp_path)
    with pytest.raises(ValidationFailed):
        await store.put_stream("k/s", _chunks([b"abc"], []), content_type="text/plain", length=4)
    assert not await store.exists("k/s")
    await store.put_stream("k/s", _chunks([b"ab", b"", b"cd"], []), content_type="text/plain", length=4)
    assert await store.get("k/s") == b"abcd"
    assert _stray_files(tmp_path / "blobs") == []


async def test_local_key_nested_under_a_blob_is_a_clear_error(tmp_path: Path) -> None:
    store = _local(tmp_path)
    await store.put("a", b"file", content_type="text/plain")
    with pytest.raises(ValueError):
        await store.put("a/b", b"x", content_type="text/plain")
    assert not await store.exists("a/b")
    await store.put("d/e", b"x", content_type="text/plain")
    with pytest.raises(ValueError):
        await store.put("d", b"x", content_type="text/plain")
    assert not await store.exists("d") and await store.get("d/e") == b"x"
    assert _stray_files(tmp_path / "blobs") == []


async def test_local_signatures_depend_on_the_secret(tmp_path: Path) -> None:
    one = LocalBlobStore(tmp_path / "blobs", b"secret-one")
    two = LocalBlobStore(tmp_path / "blobs", b"secret-two")
    url_one = await one.presign_get("k", expires_in=60, base_url=BASE_URL)
    url_two = await two.presign_get("k", expires_in=60, base_url=BASE_URL)
    assert url_one.split("sig=")[1] != url_two.split("sig=")[1]
    assert url_one.startswith(f"{BASE_URL}/blobs/k?expires=")


# S3 specifics -------------------------------------------------------------------------------------


async def test_s3_prefix_and_existing_bucket(s3_server: S3Server) -> None:
    bucket = f"proctor-{uuid.uuid4().hex[:16]}"
    first = S3BlobStore(bucket, prefix="env/prod/", endpoint_url=s3_server.endpoint_url)
    second = S3BlobStore(bucket, prefix="env/prod", endpoint_url=s3_server.endpoint_url)
    try:
        key = await first.put_content(b"shared", content_type="text/plain")
        assert await second.get(key) == b"shared", "a second store accepts the bucket the first created"
        raw = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
        listed = raw.list_objects_v2(Bucket=bucket)["Contents"]
        assert [obj["Key"] for obj in listed] == [f"env/prod/{key}"]
        raw.close()
    finally:
        await first.close()
        await second.close()


async def test_s3_presigned_put_binds_length_and_type_into_the_signature(s3_server: S3Server) -> None:
    store = S3BlobStore(f"proctor-{uuid.uuid4().hex[:16]}", endpoint_url=s3_server.endpoint_url)
    upload = await store.presign_put(
        "k", expires_in=120, base_url=BASE_URL, content_type="text/plain", content_length=3
    )
    await store.close()
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in upload.url
    assert "X-Amz-Expires=120" in upload.url


# Factory ------------------------------------------------------------------------------------------


def test_factory_defaults_to_a_folder_under_the_data_dir(tmp_path: Path) -> None:
    store = create_blob_store(Settings(data_dir=tmp_path / "data"))
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "data" / "blobs").resolve()
    assert store.max_upload_bytes == 50 * 1024 * 1024


def test_factory_file_url(tmp_path: Path) -> None:
    store = create_blob_store(
        Settings(data_dir=tmp_path, blob_url=f"file://{tmp_path}/elsewhere", blob_max_upload_bytes=7)
    )
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "elsewhere" and store.max_upload_bytes == 7


def test_factory_s3_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = Settings(
        data_dir=tmp_path,
        blob_url="s3://artifacts/proctor",
        s3_endpoint_url="http://127.0.0.1:9",
        s3_region="eu-west-1",
    )
    store = create_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.region) == ("artifacts", "proctor", "eu-west-1")
    assert store.object_key("sha256/ab/abc") == "proctor/sha256/ab/abc"


@pytest.mark.parametrize(
    "url", ["http://example.com/blobs", "gs://bucket", "file://relative/path", "s3://", "/plain/path"]
)
def test_factory_refuses_unknown_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="PROCTOR_BLOB_URL"):
        create_blob_store(Settings(data_dir=tmp_path, blob_url=url))
