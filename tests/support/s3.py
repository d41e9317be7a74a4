"""Servers for blob-store tests: a real S3-compatible server (moto's server mode on a free loopback port)
and a small app serving the local store's signed `/blobs` URLs.

moto stores and serves objects like S3 but accepts any presigned URL: it checks neither the SigV4
signature nor the expiry. Real S3 refuses a presigned request whose signed headers (Content-Length,
Content-Type) or query were changed, or whose time is up. `PresignChecker` adds exactly those checks in
front of moto, recomputing the signature with botocore's own SigV4 code, so the presigned-URL tests
assert what S3 would do rather than what moto lets through.
"""

from __future__ import annotations

import calendar
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fastapi import FastAPI
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from starlette.types import ASGIApp, Receive, Scope, Send
from werkzeug.serving import make_server

from proctor.http import blob_routes
from proctor.http.errors import ErrorRenderers, install_error_handlers, render_flat
from proctor.http.surface import mount_group
from proctor.storage.blobs import ROUTE_PREFIX, BlobStore

ACCESS_KEY_ID = "proctor-test-access-key"
SECRET_ACCESS_KEY = "proctor-test-secret-key"
REGION = "us-east-1"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class PresignChecker:
    """SigV4 query-string authentication as S3 applies it to presigned URLs."""

    skew: float = 0.0  # seconds added to the server's clock, so tests can expire URLs without sleeping
    refusals: list[str] = field(default_factory=list)

    def problem(self, environ: dict[str, Any]) -> tuple[str, str] | None:
        """Why S3 would refuse this request (code, message), or None to pass it to moto."""
        query = {
            k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()
        }
        if "X-Amz-Signature" not in query:
            return None  # a header-signed SDK call: moto handles those itself
        try:
            signature = self._signature(environ, query)
        except (KeyError, ValueError) as exc:
            return "AuthorizationQueryParametersError", f"malformed presigned URL: {exc}"
        if signature != query["X-Amz-Signature"]:
            return "SignatureDoesNotMatch", "The request signature we calculated does not match"
        signed_at = calendar.timegm(time.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        if time.time() + self.skew > signed_at + int(query["X-Amz-Expires"]):
            return "AccessDenied", "Request has expired"
        return None

    def _signature(self, environ: dict[str, Any], query: dict[str, str]) -> str:
        access_key, _, region, service, _ = query["X-Amz-Credential"].split("/")
        if access_key != ACCESS_KEY_ID:
            raise ValueError("unknown access key")
        headers = {name: _header(environ, name) for name in query["X-Amz-SignedHeaders"].split(";")}
        # The URL as the client sent it, minus the signature (which is not part of what is signed).
        path, _, raw_query = environ["REQUEST_URI"].partition("?")
        unsigned = "&".join(p for p in raw_query.split("&") if not p.startswith("X-Amz-Signature="))
        request = AWSRequest(
            method=environ["REQUEST_METHOD"],
            url=f"http://{headers['host']}{path}?{unsigned}",
            headers=headers,
        )
        request.context["timestamp"] = query["X-Amz-Date"]
        auth = S3SigV4QueryAuth(
            Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY),
            service,
            region,
            expires=int(query["X-Amz-Expires"]),
        )
        canonical = auth.canonical_request(request)
        return str(auth.signature(auth.string_to_sign(request, canonical), request))

    def wrap(self, app: WSGIApp) -> WSGIApp:
        """`app` behind these checks; refusals get S3's XML error body."""

        def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            problem = self.problem(environ)
            if problem is None:
                return app(environ, start_response)
            self.refusals.append(problem[0])
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f"<Error><Code>{problem[0]}</Code><Message>{problem[1]}</Message></Error>"
            ).encode()
            start_response("403 Forbidden", [("Content-Type", "application/xml")])
            return [body]

        return checked


def _header(environ: dict[str, Any], name: str) -> str:
    if name in ("content-type", "content-length"):
        value = environ.get(name.upper().replace("-", "_"))
    else:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    if value is None:
        raise ValueError(f"signed header {name} is missing")
    return str(value)


class _CheckingMotoServer(ThreadedMotoServer):
    def __init__(self, checker: PresignChecker) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.checker = checker

    def _server_entry(self) -> None:
        # ThreadedMotoServer's own entry point, with the presign checks in front of moto's app.
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address, self._port, self.checker.wrap(app), True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


@dataclass
class S3Server:
    endpoint_url: str
    checker: PresignChecker

    def advance(self, seconds: float) -> None:
        """Move the server's clock forward (for expiry tests)."""
        self.checker.skew += seconds


@contextmanager
def aws_test_credentials() -> Iterator[None]:
    """Dummy credentials for the default AWS chain; nothing from the developer's own AWS setup leaks in."""
    values = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    removed = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    saved = {name: os.environ.get(name) for name in (*values, *removed)}
    os.environ.update(values)
    for name in removed:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1 (a free port), checking presigned URLs as S3 does, with test credentials."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    checker = PresignChecker()
    server = _CheckingMotoServer(checker)
    with aws_test_credentials():
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield S3Server(endpoint_url=f"http://{host}:{port}", checker=checker)
        finally:
            server.stop()


def local_blob_app(store: BlobStore) -> ASGIApp:
    """The blob routes mounted as the app mounts them, with `store` where `state_of` finds it."""
    app = FastAPI()
    renderers = ErrorRenderers()
    install_error_handlers(app, renderers.for_path)
    mount_group(app, renderers, ROUTE_PREFIX, [blob_routes.router], render_flat)
    state = SimpleNamespace(blobs=store)

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        # The edge middleware does this in the real app.
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "proctor.state": state}
        await app(scope, receive, send)

    return with_state
