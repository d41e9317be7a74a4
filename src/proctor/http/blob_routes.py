"""`/blobs/{key}`: serves the local blob store's signed download and upload URLs.

Mounted at `proctor.storage.blobs.ROUTE_PREFIX`. With an S3 store these routes answer 404: S3 serves
its own presigned URLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from proctor.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from proctor.http.deps import state_of
from proctor.storage.blobs import (
    LocalBlobStore,
    SignedUpload,
    content_disposition,
    validate_key,
)

router = APIRouter(tags=["blobs"])

READ_CHUNK_BYTES = 256 * 1024
# Blobs are miners' uploads served from proctor's own origin: a browser must never render or sniff them
# as a page of this site (stored XSS against the dashboard).
_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


def _local_store(request: Request) -> LocalBlobStore:
    store = state_of(request).blobs
    if not isinstance(store, LocalBlobStore):
        raise NotFound()
    return store


def _checked_key(key: str) -> str:
    try:
        return validate_key(key)
    except ValueError as exc:
        raise ValidationFailed(f"Invalid blob key: {exc}") from None


async def _file_chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, READ_CHUNK_BYTES):
            yield chunk
    finally:
        handle.close()


@router.get("/{key:path}")
async def download_blob(key: str, request: Request) -> StreamingResponse:
    """Stream a blob through a URL signed by the local blob store."""
    store = _local_store(request)
    key = _checked_key(key)
    filename = store.signer.verify_get(key, request.query_params)
    blob = await store.open_blob(key)
    headers = {**_SAFE_HEADERS, "Content-Length": str(blob.size)}
    if filename:
        headers["Content-Disposition"] = content_disposition(filename)
    return StreamingResponse(_file_chunks(blob.file), media_type=blob.content_type, headers=headers)


def _check_upload_headers(request: Request, signed: SignedUpload) -> None:
    # As with S3, the type is part of the signature: a client may not relabel what it uploads.
    if (request.headers.get("content-type") or "").strip() != signed.content_type:
        raise Forbidden(f"Content-Type must be {signed.content_type!r}, as signed", code="INVALID_SIGNATURE")
    declared = request.headers.get("content-length")
    if declared is None:
        return  # chunked upload: the length is checked while streaming
    if not declared.isdigit():
        raise ValidationFailed("Content-Length is not a number")
    # Refuse before reading a byte when the client announces the wrong size.
    if int(declared) > signed.length:
        raise PayloadTooLarge(f"Content-Length {declared} exceeds the signed {signed.length} bytes")
    if int(declared) < signed.length:
        raise ValidationFailed(f"Content-Length {declared} is shorter than the signed {signed.length} bytes")


@router.put("/{key:path}")
async def upload_blob(key: str, request: Request) -> dict[str, Any]:
    """Accept exactly the signed number of bytes of the signed type, then store them atomically."""
    store = _local_store(request)
    key = _checked_key(key)
    signed = store.signer.verify_put(key, request.query_params)
    _check_upload_headers(request, signed)
    try:
        await store.put_stream(key, request.stream(), content_type=signed.content_type, length=signed.length)
    except ValueError as exc:  # the key collides with a folder of other keys (or sits under a blob)
        raise Conflict(str(exc)) from None
    return {"key": key, "size": signed.length, "content_type": signed.content_type}
