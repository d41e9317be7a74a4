"""Content-addressed blob storage for artifacts (agent code, validator logs).

Two backends behind one protocol: a local folder (the embedded default) and any S3-compatible store.
Clients move bytes through presigned URLs. S3 signs its own; for the local folder proctor signs URLs
that its `/blobs` routes (`proctor.http.blob_routes`) check.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote, unquote, urlencode, urlsplit

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import ClientError

from proctor.config import Settings
from proctor.errors import Forbidden, NotFound, PayloadTooLarge, ValidationFailed

log = structlog.get_logger(__name__)

ROUTE_PREFIX = "/blobs"  # where the app mounts `proctor.http.blob_routes`
DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_KEY_LENGTH = 512
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # S3's own limit for SigV4 presigned URLs
_KEY_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
_DIGITS = re.compile(r"[0-9]{1,15}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
# Hashing releases the GIL; below this size a thread hop costs more than the hash itself.
_HASH_OFF_LOOP_BYTES = 1024 * 1024
# File names beside a blob use "~", which no key may contain, so they never collide with a key.
_TYPE_SUFFIX = "~type"


class BlobNotFound(NotFound):
    code = "BLOB_NOT_FOUND"
    default_message = "Blob not found"


@dataclass(frozen=True, kw_only=True)
class PresignedUpload:
    """Where and how a client uploads: send `method` to `url` with exactly these `headers`."""

    url: str
    method: str = "PUT"
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: datetime


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""
        ...

    async def put_content(self, data: bytes, *, content_type: str, prefix: str = "sha256") -> str:
        """Store `data` under its sha256-derived key (once) and return the key."""
        ...

    async def get(self, key: str) -> bytes:
        """The blob's bytes; `BlobNotFound` when absent."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int | None:
        """Size in bytes, None when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""
        ...

    async def presign_get(
        self, key: str, *, expires_in: int, base_url: str, filename: str | None = None
    ) -> str:
        """A URL anyone can GET the blob from until it expires."""
        ...

    async def presign_put(
        self, key: str, *, expires_in: int, base_url: str, content_type: str, content_length: int
    ) -> PresignedUpload:
        """A URL that accepts exactly one upload of `content_length` bytes of `content_type`."""
        ...

    async def close(self) -> None: ...


# Validation ---------------------------------------------------------------------------------------


def validate_key(key: str) -> str:
    """Return `key` if it is a safe blob key, else raise ValueError."""
    if not isinstance(key, str) or not key:
        raise ValueError("blob key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"blob key is longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_CHARS.fullmatch(key):
        raise ValueError("blob key may only contain A-Z a-z 0-9 . _ / -")
    if key.startswith("/") or ".." in key:
        raise ValueError("blob key must be relative and must not contain '..'")
    # Empty and "." segments would alias other keys on a filesystem ("a//b", "a/./b" are "a/b").
    if any(segment in ("", ".") for segment in key.split("/")):
        raise ValueError("blob key must not contain empty or '.' path segments")
    return key


def content_key(data: bytes, prefix: str = "sha256") -> str:
    """The content address of `data`: `{prefix}/{sha[:2]}/{sha}`."""
    sha = hashlib.sha256(data).hexdigest()
    return validate_key(f"{prefix}/{sha[:2]}/{sha}")


def _check_header_value(value: str, what: str) -> str:
    # Stored values come back as response headers: control characters would allow header injection.
    if not value or len(value) > 255 or _HEADER_UNSAFE.search(value):
        raise ValueError(f"{what} must be 1-255 characters without control characters")
    return value


def _check_expires_in(expires_in: int) -> int:
    if not 1 <= expires_in <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
    return expires_in


def _check_upload_length(content_length: int, limit: int) -> int:
    if content_length < 0:
        raise ValueError("content_length must not be negative")
    if content_length > limit:
        raise PayloadTooLarge(f"upload of {content_length} bytes exceeds the limit of {limit} bytes")
    return content_length


def content_disposition(filename: str) -> str:
    """An `attachment` Content-Disposition naming `filename` (ASCII fallback plus RFC 6266 UTF-8 form)."""
    _check_header_value(filename, "filename")
    fallback = filename.encode("ascii", "replace").decode().replace("\\", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class _ContentAddressed:
    """`put_content` in terms of `exists` and `put`, shared by both backends."""

    async def exists(self, key: str) -> bool:
        raise NotImplementedError

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        raise NotImplementedError

    async def put_content(self, data: bytes, *, content_type: str, prefix: str = "sha256") -> str:
        """Store `data` under its sha256-derived key (once) and return the key."""
        if len(data) > _HASH_OFF_LOOP_BYTES:
            key = await asyncio.to_thread(content_key, data, prefix)
        else:
            key = content_key(data, prefix)
        # Same key means same bytes, so an existing blob is already the right one.
        if not await self.exists(key):
            await self.put(key, data, content_type=content_type)
        return key


# Local folder -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedUpload:
    """What a verified upload URL allows."""

    length: int
    content_type: str


class UrlSigner:
    """HMAC-SHA256 signatures for proctor's own blob URLs."""

    def __init__(
        self, secret: bytes, *, previous: Sequence[bytes] = (), clock: Callable[[], float] = time.time
    ) -> None:
        if not secret:
            raise ValueError("a non-empty secret is needed to sign blob URLs")
        self._key = self._subkey(secret)
        # Keys being rotated out still verify the links they signed, until those expire.
        self._previous = [self._subkey(old) for old in previous if old and old != secret]
        self._clock = clock

    @staticmethod
    def _subkey(secret: bytes) -> bytes:
        # A purpose-bound subkey: the same secret also encrypts stored credentials.
        return hmac.new(secret, b"proctor.blob-url.v1", hashlib.sha256).digest()

    def now(self) -> int:
        return int(self._clock())

    def _sign(self, *fields: str, key: bytes | None = None) -> str:
        # A JSON list is an unambiguous encoding: no field can smuggle in a separator.
        message = json.dumps(fields, separators=(",", ":")).encode()
        return hmac.new(key or self._key, message, hashlib.sha256).hexdigest()

    def get_params(self, key: str, *, expires: int, filename: str | None) -> dict[str, str]:
        """Query parameters of a signed download URL."""
        params = {"expires": str(expires)}
        if filename:
            params["fn"] = filename
        params["sig"] = self._sign("GET", key, str(expires), filename or "")
        return params

    def put_params(self, key: str, *, expires: int, length: int, content_type: str) -> dict[str, str]:
        """Query parameters of a signed upload URL."""
        fields = ("PUT", key, str(expires), str(length), content_type)
        return {"expires": fields[2], "max": fields[3], "ct": content_type, "sig": self._sign(*fields)}

    def verify_get(self, key: str, params: Mapping[str, str]) -> str | None:
        """Check a download URL's signature and expiry; return the signed filename, if any."""
        expires = _signed_int(params, "expires")
        filename = params.get("fn") or ""
        self._check(params.get("sig"), ("GET", key, str(expires), filename), expires)
        return filename or None

    def verify_put(self, key: str, params: Mapping[str, str]) -> SignedUpload:
        """Check an upload URL's signature and expiry; return what it allows."""
        expires, length = _signed_int(params, "expires"), _signed_int(params, "max")
        content_type = params.get("ct") or ""
        self._check(params.get("sig"), ("PUT", key, str(expires), str(length), content_type), expires)
        return SignedUpload(length=length, content_type=content_type)

    def _check(self, given: str | None, fields: tuple[str, ...], expires: int) -> None:
        # The signature first: an expiry the signer never issued is a forgery, not a stale link.
        if not given or not _HEX_SIGNATURE.fullmatch(given):
            raise _invalid_signature()
        # Every key of the ring is tried (no early exit): the time taken says nothing about which matched.
        matches = [
            hmac.compare_digest(given.encode(), self._sign(*fields, key=k).encode())
            for k in (self._key, *self._previous)
        ]
        if not any(matches):
            raise _invalid_signature()
        if self.now() > expires:
            raise Forbidden("This link has expired", code="URL_EXPIRED")


def _invalid_signature() -> Forbidden:
    return Forbidden("Invalid or missing URL signature", code="INVALID_SIGNATURE")


def _signed_int(params: Mapping[str, str], name: str) -> int:
    value = params.get(name) or ""
    if not _DIGITS.fullmatch(value):
        raise _invalid_signature()
    return int(value)


@dataclass
class OpenBlob:
    """An opened local blob: the file stays readable even if the key is replaced or deleted."""

    file: BinaryIO
    size: int
    content_type: str


class _AtomicFile:
    """A temp file beside `path` that becomes `path` only on commit (fsync, rename, fsync the dir)."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ValueError(f"blob path {path} is under an existing blob") from None
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}~tmp")
        self.path, self.tmp = path, Path(name)
        self.file = os.fdopen(fd, "wb")
        self.done = False

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        try:
            os.replace(self.tmp, self.path)
        except IsADirectoryError:
            raise ValueError(f"blob path {self.path} has other blobs under it") from None
        self.done = True
        _fsync_dir(self.path.parent)  # makes the rename itself survive a crash

    def discard(self) -> None:
        if not self.done:
            self.file.close()
            self.tmp.unlink(missing_ok=True)
            self.done = True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    pending = _AtomicFile(path)
    try:
        pending.write(data)
        pending.commit()
    finally:
        pending.discard()


_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def _file_size(path: Path) -> int | None:
    try:
        info = path.stat()
    except _MISSING:
        return None
    # A directory here means other keys live under this one as a prefix; it is not a blob.
    return info.st_size if stat.S_ISREG(info.st_mode) else None


class LocalBlobStore(_ContentAddressed):
    """Blobs as files under `root`; the content type sits beside each in `<name>~type`."""

    def __init__(
        self,
        root: Path,
        secret: bytes,
        *,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        clock: Callable[[], float] = time.time,
        previous_secrets: Sequence[bytes] = (),
    ) -> None:
        self.root = Path(root)
        self.signer = UrlSigner(secret, previous=previous_secrets, clock=clock)
        self.max_upload_bytes = max_upload_bytes

    def path_for(self, key: str) -> Path:
        """The file holding `key` (a validated key has no '..' and no leading '/', so it stays under root)."""
        return self.root / validate_key(key)

    @staticmethod
    def _type_path(path: Path) -> Path:
        return path.with_name(path.name + _TYPE_SUFFIX)

    def _write(self, path: Path, data: bytes, content_type: str) -> None:
        # The type goes first: a crash in between leaves the old bytes under a type the next put rewrites.
        _write_atomic(self._type_path(path), content_type.encode())
        _write_atomic(path, data)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""
        path = self.path_for(key)
        _check_header_value(content_type, "content_type")
        await asyncio.to_thread(self._write, path, data, content_type)

    async def put_stream(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str, length: int
    ) -> None:
        """Store exactly `length` bytes from `chunks`; refuse as soon as more arrive, or if fewer do."""
        path = self.path_for(key)
        _check_header_value(content_type, "content_type")
        pending = await asyncio.to_thread(_AtomicFile, path)
        try:
            received = 0
            async for chunk in chunks:
                received += len(chunk)
                if received > length:
                    raise PayloadTooLarge(f"upload is longer than the signed {length} bytes")
                if chunk:
                    await asyncio.to_thread(pending.write, chunk)
            if received < length:
                raise ValidationFailed(f"upload ended after {received} of the signed {length} bytes")
            await asyncio.to_thread(_write_atomic, self._type_path(path), content_type.encode())
            await asyncio.to_thread(pending.commit)
        finally:
            # Synchronous on purpose: it must also run while this task is being cancelled.
            pending.discard()

    async def get(self, key: str) -> bytes:
        """The blob's bytes; `BlobNotFound` when absent."""
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except _MISSING:
            raise BlobNotFound(f"blob {key} not found") from None

    def _open(self, path: Path) -> OpenBlob:
        handle = path.open("rb")
        try:
            content_type = self._type_path(path).read_text().strip() or DEFAULT_CONTENT_TYPE
        except _MISSING:
            content_type = DEFAULT_CONTENT_TYPE
        return OpenBlob(file=handle, size=os.fstat(handle.fileno()).st_size, content_type=content_type)

    async def open_blob(self, key: str) -> OpenBlob:
        """Open the blob for streaming; the caller closes `.file`. `BlobNotFound` when absent."""
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(self._open, path)
        except _MISSING:
            raise BlobNotFound(f"blob {key} not found") from None

    async def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""
        return await self.size(key) is not None

    async def size(self, key: str) -> int | None:
        """Size in bytes, None when absent."""
        return await asyncio.to_thread(_file_size, self.path_for(key))

    def _delete(self, path: Path) -> None:
        for victim in (path, self._type_path(path)):
            try:
                victim.unlink()
            except _MISSING:
                pass

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""
        path = self.path_for(key)
        await asyncio.to_thread(self._delete, path)

    def _url(self, base_url: str, key: str, params: dict[str, str]) -> str:
        return f"{base_url.rstrip('/')}{ROUTE_PREFIX}/{key}?{urlencode(params)}"

    async def presign_get(
        self, key: str, *, expires_in: int, base_url: str, filename: str | None = None
    ) -> str:
        """A URL to proctor's `/blobs` route that serves the blob until it expires."""
        validate_key(key)
        if filename:
            _check_header_value(filename, "filename")
        expires = self.signer.now() + _check_expires_in(expires_in)
        return self._url(base_url, key, self.signer.get_params(key, expires=expires, filename=filename))

    async def presign_put(
        self, key: str, *, expires_in: int, base_url: str, content_type: str, content_length: int
    ) -> PresignedUpload:
        """A URL to proctor's `/blobs` route that accepts exactly `content_length` bytes of `content_type`."""
        validate_key(key)
        _check_header_value(content_type, "content_type")
        _check_upload_length(content_length, self.max_upload_bytes)
        expires = self.signer.now() + _check_expires_in(expires_in)
        params = self.signer.put_params(
            key, expires=expires, length=content_length, content_type=content_type
        )
        return PresignedUpload(
            url=self._url(base_url, key, params),
            headers={"Content-Type": content_type, "Content-Length": str(content_length)},
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    async def close(self) -> None:
        """Nothing to release: files are opened per call."""


# S3-compatible ------------------------------------------------------------------------------------

_S3_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_S3_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
_S3_BUCKET_TAKEN = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _s3_client(endpoint_url: str | None, region: str) -> Any:
    config = Config(
        # SigV4 signs Content-Length and Content-Type into presigned PUTs; SigV2 would not.
        signature_version="s3v4",
        # Self-hosted S3-compatible servers rarely have wildcard DNS for virtual-hosted buckets.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
        # Calls run on the default thread pool (up to 32 threads); let each have a connection.
        max_pool_connections=32,
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint_url or None, region_name=region, config=config)


class S3BlobStore(_ContentAddressed):
    """Blobs as objects in one bucket, optionally under a key prefix. Credentials: the AWS chain."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.prefix = validate_key(prefix.strip("/")) if prefix.strip("/") else ""
        self.region = region
        self.max_upload_bytes = max_upload_bytes
        self._client = _s3_client(endpoint_url, region)
        self._bucket_ready = False
        self._bucket_lock = asyncio.Lock()

    def object_key(self, key: str) -> str:
        """The S3 object key that holds blob `key`."""
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _create_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _S3_NO_BUCKET:
                return  # e.g. 403 on HEAD: the bucket exists; object calls will report real problems
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**kwargs)
            log.info("blobs.bucket_created", bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in _S3_BUCKET_TAKEN:  # another replica won the race
                raise

    async def _ensure_bucket(self) -> None:
        # Once per process; local S3-compatible servers start empty.
        if self._bucket_ready:
            return
        async with self._bucket_lock:
            if not self._bucket_ready:
                await asyncio.to_thread(self._create_bucket)
                self._bucket_ready = True

    async def _call(self, method: str, **params: Any) -> Any:
        await self._ensure_bucket()
        return await asyncio.to_thread(getattr(self._client, method), Bucket=self.bucket, **params)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""
        _check_header_value(content_type, "content_type")
        await self._call("put_object", Key=self.object_key(key), Body=data, ContentType=content_type)

    def _read(self, object_key: str) -> bytes:
        response = self._client.get_object(Bucket=self.bucket, Key=object_key)
        with response["Body"] as body:
            data: bytes = body.read()
        return data

    async def get(self, key: str) -> bytes:
        """The blob's bytes; `BlobNotFound` when absent."""
        object_key = self.object_key(key)
        await self._ensure_bucket()
        try:
            return await asyncio.to_thread(self._read, object_key)
        except ClientError as exc:
            if _error_code(exc) in _S3_MISSING:
                raise BlobNotFound(f"blob {key} not found") from None
            raise

    async def exists(self, key: str) -> bool:
        """Whether a blob is stored under `key`."""
        return await self.size(key) is not None

    async def size(self, key: str) -> int | None:
        """Size in bytes, None when absent."""
        try:
            head = await self._call("head_object", Key=self.object_key(key))
        except ClientError as exc:
            if _error_code(exc) in _S3_MISSING:
                return None
            raise
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error (S3's delete is idempotent)."""
        await self._call("delete_object", Key=self.object_key(key))

    async def _presign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        # Usually pure computation, but refreshing credentials may touch the network.
        url: str = await asyncio.to_thread(
            self._client.generate_presigned_url, operation, Params=params, ExpiresIn=expires_in
        )
        return url

    async def presign_get(
        self, key: str, *, expires_in: int, base_url: str, filename: str | None = None
    ) -> str:
        """An S3 presigned GET URL (`base_url` is unused: S3 serves it)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.object_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return await self._presign("get_object", params, _check_expires_in(expires_in))

    async def presign_put(
        self, key: str, *, expires_in: int, base_url: str, content_type: str, content_length: int
    ) -> PresignedUpload:
        """An S3 presigned PUT whose signature covers the length and type, so S3 refuses any other."""
        _check_header_value(content_type, "content_type")
        _check_upload_length(content_length, self.max_upload_bytes)
        _check_expires_in(expires_in)
        await self._ensure_bucket()
        params = {
            "Bucket": self.bucket,
            "Key": self.object_key(key),
            "ContentType": content_type,
            "ContentLength": content_length,
        }
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        return PresignedUpload(
            url=await self._presign("put_object", params, expires_in),
            headers={"Content-Type": content_type, "Content-Length": str(content_length)},
            expires_at=expires_at,
        )

    async def close(self) -> None:
        """Close the client's connection pool."""
        await asyncio.to_thread(self._client.close)


# Factory ------------------------------------------------------------------------------------------


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.netloc not in ("", "localhost") or not path.startswith("/"):
        raise ValueError(f"PROCTOR_BLOB_URL {url!r}: a file URL needs an absolute path, file:///path")
    return Path(path)


def create_blob_store(settings: Settings) -> BlobStore:
    """The blob store `PROCTOR_BLOB_URL` names: empty or file:///path (local folder), or s3://bucket[/prefix]."""
    url = settings.blob_url.strip()
    limit = settings.blob_max_upload_bytes
    scheme, _, rest = url.partition("://")
    if not url or scheme == "file":
        root = _file_url_path(url) if url else (settings.data_dir / "blobs").resolve()
        secret = settings.effective_secret_key.encode()
        previous = [k.encode() for k in settings.previous_secret_keys]
        return LocalBlobStore(root, secret, max_upload_bytes=limit, previous_secrets=previous)
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ValueError(f"PROCTOR_BLOB_URL {url!r}: expected s3://bucket[/prefix]")
        return S3BlobStore(
            bucket,
            prefix=prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            max_upload_bytes=limit,
        )
    raise ValueError(
        f"PROCTOR_BLOB_URL {url!r} is not supported: use empty (a folder under the data dir), "
        "file:///absolute/path, or s3://bucket[/prefix] with PROCTOR_S3_ENDPOINT_URL for non-AWS stores"
    )
