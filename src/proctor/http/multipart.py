"""Streaming multipart/form-data for size-limited uploads.

Starlette's form parser spools a whole upload to a temporary file before the endpoint runs; an upload
limit enforced afterwards has already paid for the bytes. This reader feeds the request stream to
python-multipart's push parser chunk by chunk and stops reading the moment the file part passes its
limit (or the body passes its total cap, or a declared Content-Length already does): at most
`max_file_bytes + 1` bytes of the file are ever held, and nothing touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from proctor.errors import BadRequest

FORM_OVERHEAD_BYTES = 64 * 1024  # boundaries, part headers and the small text fields


class _Stop(Exception):
    """Raised inside a parser callback to abandon the body."""


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    file_field: str | None = None
    filename: str | None = None
    content: bytes | None = None
    oversized: bool = False  # the file (or the body) passed its limit; reading stopped there


@dataclass
class _Part:
    name: str | None = None
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)


class _Collector:
    def __init__(
        self, form: UploadForm, file_field: str, max_file: int, max_field: int, max_fields: int
    ) -> None:
        self.form, self.file_field = form, file_field
        self.max_file, self.max_field, self.max_fields = max_file, max_field, max_fields
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: setattr(self, "header_name", self.header_name + d[s:e]),
            "on_header_value": lambda d, s, e: setattr(self, "header_value", self.header_value + d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.part, self.headers = _Part(), {}

    def _header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name, filename = options.get(b"name"), options.get(b"filename")
        self.part.name = name.decode("utf-8", "replace") if name is not None else None
        self.part.filename = filename.decode("utf-8", "replace") if filename is not None else None

    def _is_file(self) -> bool:
        return self.part.name == self.file_field

    def _data(self, data: bytes, start: int, end: int) -> None:
        limit = self.max_file if self._is_file() else self.max_field
        if len(self.part.data) + (end - start) > limit:
            if self._is_file():
                self.form.oversized = True
                raise _Stop
            raise BadRequest(f"form field {self.part.name!r} is too long", code="INVALID_FILE")
        self.part.data += data[start:end]

    def _end(self) -> None:
        if self._is_file():
            self.form.file_field, self.form.filename = self.part.name, self.part.filename
            self.form.content = bytes(self.part.data)
        elif self.part.name is not None:
            if len(self.form.fields) >= self.max_fields:
                raise BadRequest("too many form fields", code="INVALID_FILE")
            self.form.fields[self.part.name] = self.part.data.decode("utf-8", "replace")


async def read_upload(
    request: Request,
    *,
    file_field: str = "file",
    max_file_bytes: int,
    max_field_bytes: int = 4096,
    max_fields: int = 16,
) -> UploadForm:
    """Parse a multipart body, keeping at most `max_file_bytes` + 1 bytes of the file part."""
    form = UploadForm()
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadRequest("expected a multipart/form-data body", code="INVALID_FILE")
    total_cap = max_file_bytes + FORM_OVERHEAD_BYTES
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > total_cap:
        form.oversized = True  # refuse without reading a byte of it
        return form
    collector = _Collector(form, file_field, max_file_bytes, max_field_bytes, max_fields)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > total_cap:
                form.oversized = True
                break
            parser.write(chunk)
        else:
            parser.finalize()
    except _Stop:
        pass
    except ClientDisconnect:
        raise BadRequest("the client went away during the upload", code="INVALID_FILE") from None
    except (BadRequest, HTTPException):  # HTTPException: the body limit of proctor.http.bodies
        raise
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        raise BadRequest(f"malformed multipart body: {type(exc).__name__}", code="INVALID_FILE") from None
    return form
