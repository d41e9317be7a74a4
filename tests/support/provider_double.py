"""A local stand-in for the inference providers, served over real HTTP on a free 127.0.0.1 port.

It answers Chutes' OAuth token endpoint (`POST /idp/token`, refresh-token grant) and OpenRouter's key
management endpoints (`GET`/`POST /api/v1/keys`) from a small in-memory state that tests arrange and
inspect: which refresh tokens and keys are good, whether refresh tokens rotate, a forced failure status,
an artificial delay. Point `chutes_api_url` at `base_url` and `openrouter_api_url` at
`openrouter_api_url`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.support.server import free_port

CHUTES_CLIENT_ID = "cid_test_client"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class ProviderState:
    refresh_tokens: set[str] = field(default_factory=set)  # Chutes refresh tokens that still work
    rotate_refresh_tokens: bool = False  # a used refresh token is retired and a new one issued
    expires_in: int | None = 3600
    management_keys: set[str] = field(default_factory=set)  # OpenRouter keys allowed on /keys
    inference_keys: set[str] = field(default_factory=set)  # ordinary OpenRouter keys: 403 on /keys
    fail_status: int | None = None  # answer every request with this status
    delay_seconds: float = 0.0
    omit_access_token: bool = False
    issued_access_tokens: list[str] = field(default_factory=list)
    created_keys: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)


class ProviderDouble:
    def __init__(self) -> None:
        self.state = ProviderState()
        self.lock = threading.Lock()
        self.requested = threading.Event()  # set by every request (tests wait on it, never sleep)
        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="provider-double",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openrouter_api_url(self) -> str:
        return self.base_url + "/api/v1"

    def start(self) -> ProviderDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def new_refresh_token(self) -> str:
        token = "rt_" + secrets.token_urlsafe(24)
        with self.lock:
            self.state.refresh_tokens.add(token)
        return token

    def new_management_key(self) -> str:
        key = "sk-or-v1-" + secrets.token_hex(32)
        with self.lock:
            self.state.management_keys.add(key)
        return key

    def new_inference_key(self) -> str:
        key = "sk-or-v1-" + secrets.token_hex(32)
        with self.lock:
            self.state.inference_keys.add(key)
        return key

    # Request handling (runs on the server's threads) ----------------------------------------------

    def handle(self, req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.state.requests.append(req)
            self.requested.set()
            delay, fail = self.state.delay_seconds, self.state.fail_status
        if delay:
            time.sleep(delay)
        if fail is not None:
            return fail, {"error": "server_error"}
        with self.lock:
            if req.method == "POST" and req.path == "/idp/token":
                return self._token(req)
            if req.path in ("/api/v1/keys", "/api/v1/keys/"):
                return self._keys(req)
        return 404, {"error": "not_found"}

    def _token(self, req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        form = req.form()
        if form.get("grant_type") != "refresh_token" or form.get("client_id") != CHUTES_CLIENT_ID:
            return 400, {"error": "invalid_request", "error_description": "bad grant or client"}
        token = form.get("refresh_token", "")
        if token not in self.state.refresh_tokens:
            # A careless real server might echo the token: adapters must not repeat this text.
            return 400, {"error": "invalid_grant", "error_description": f"unknown token {token}"}
        access = "at_" + secrets.token_urlsafe(24)
        self.state.issued_access_tokens.append(access)
        reply: dict[str, Any] = {"token_type": "Bearer", "scope": "chutes:invoke"}
        if not self.state.omit_access_token:
            reply["access_token"] = access
        if self.state.expires_in is not None:
            reply["expires_in"] = self.state.expires_in
        if self.state.rotate_refresh_tokens:
            self.state.refresh_tokens.discard(token)
            successor = "rt_" + secrets.token_urlsafe(24)
            self.state.refresh_tokens.add(successor)
            reply["refresh_token"] = successor
        return 200, reply

    def _keys(self, req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        auth = req.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        if key in self.state.inference_keys:
            return 403, {"error": {"code": 403, "message": "Only management keys can manage keys"}}
        if key not in self.state.management_keys:
            return 401, {"error": {"code": 401, "message": "No auth credentials found"}}
        if req.method == "GET":
            return 200, {"data": [{"hash": k["hash"], "name": k["name"]} for k in self.state.created_keys]}
        if req.method != "POST":
            return 405, {"error": {"code": 405, "message": "method not allowed"}}
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return 400, {"error": {"code": 400, "message": "name is required"}}
        created = {
            "hash": secrets.token_hex(32),
            "name": body["name"],
            "label": "sk-or-v1-abc...xyz",
            "limit": body.get("limit"),
            "expires_at": body.get("expires_at"),
            "disabled": False,
            "usage": 0,
            "created_at": "2026-01-01T00:00:00Z",
            "request": body,
        }
        new_key = "sk-or-v1-" + secrets.token_hex(32)
        self.state.created_keys.append({**created, "key": new_key})
        public = {k: v for k, v in created.items() if k != "request"}
        return 201, {"data": public, "key": new_key}


def _handler_for(double: ProviderDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = double.handle(RecordedRequest(self.command, self.path, headers, body))
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
