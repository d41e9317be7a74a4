"""Bitrecs test support: a fake GitHub on loopback, artifacts, and requests signed as the CLI signs them."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml
from bittensor_wallet import Keypair

SYSTEM = "You are a shopping assistant, today's date is {{ current_date }}."
USER = (
    "You are an ecommerce recommender acting as {{ persona }}. Recommend {{ num_recs }} products.\n"
    "Viewing: <sku>{{ sku }}</sku> {{ sku_info }}\nCart: {{ cart_json }}\nOrders: {{ order_json }}\n"
    "Catalog:\n{{ product_catalog }}\nReturn only a JSON array of sku, name, price and reason."
)


def artifact(hotkey: str, *, examples: int = 0, **overrides: Any) -> str:
    """A valid agent artifact for `hotkey` (fields overridden as given; None removes one)."""
    data: dict[str, Any] = {
        "name": "bitrecs recommender",
        "version_num": "1",
        "status": "screening_1",
        "miner_hotkey": hotkey,
        "miner_uid": "",
        "ip_address": "",
        "provider": "CHUTES",
        "model": "deepseek-ai/DeepSeek-V3",
        "system_prompt_template": SYSTEM,
        "user_prompt_template": USER,
        "sampling_params": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 2048},
    }
    if examples:
        data["fewshot_examples"] = [
            {
                "role": "user" if i % 2 == 0 else "assistant",
                "content": f"Example turn number {'x' * 40} please",
            }
            for i in range(examples)
        ]
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@dataclass
class FakeGist:
    account: str
    raw: bytes
    created_at: str
    commits: list[str]
    status: int = 200  # every GitHub answer for this gist (403: rate limited, 404: gone)


@dataclass
class FakeGitHub:
    """GitHub's gist API and raw host on one loopback port (`PROCTOR_GITHUB_API_URL` and
    `PROCTOR_GIST_RAW_URL` both point at it)."""

    gists: dict[str, FakeGist] = field(default_factory=dict)
    requests: int = 0

    def add(self, account: str, raw: str | bytes, *, created_at: str | None = None) -> tuple[str, FakeGist]:
        gist_id = secrets.token_hex(16)
        body = raw.encode() if isinstance(raw, str) else raw
        stamp = created_at or datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        gist = FakeGist(account, body, stamp, [secrets.token_hex(20)])
        self.gists[gist_id] = gist
        return gist_id, gist

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake.requests += 1
                parts = [p for p in self.path.split("?")[0].split("/") if p]
                gist: FakeGist | None = None
                body: bytes = b'{"message": "Not Found"}'
                if len(parts) >= 2 and parts[0] == "gists":
                    gist = fake.gists.get(parts[1])
                    if gist is not None and len(parts) == 2:
                        body = json.dumps({"id": parts[1], "created_at": gist.created_at}).encode()
                    elif gist is not None and parts[2:] == ["commits"]:
                        body = json.dumps([{"version": sha} for sha in gist.commits]).encode()
                elif len(parts) == 3 and parts[2] == "raw":
                    gist = fake.gists.get(parts[1])
                    if gist is not None and gist.account == parts[0]:
                        body = gist.raw
                    else:
                        gist = None
                status = 404 if gist is None else gist.status
                if status != 200:
                    body = b'{"message": "API rate limit exceeded"}' if status == 403 else body
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def created_at_text(gist: FakeGist) -> str:
    """What Bitrecs' CLI puts in `created_at`: GitHub's stamp through fromisoformat().isoformat()."""
    return datetime.fromisoformat(gist.created_at.replace("Z", "+00:00")).isoformat()


def commitment(gist: FakeGist) -> str:
    return f"{gist.commits[0]}:{hashlib.sha256(gist.raw).hexdigest()}"


def body(signer: Keypair, account: str, gist_id: str, gist: FakeGist, **overrides: str) -> dict[str, str]:
    """The /check and /submit body, signed like the CLI (`wallet.hotkey.sign(preamble).hex()`)."""
    created = overrides.pop("created_at", created_at_text(gist))
    hotkey = overrides.pop("hotkey", signer.ss58_address)
    preamble = f"{created}:{account}:{gist_id}:{hotkey}"
    values = {
        "created_at": created,
        "github_account": account,
        "gist_id": gist_id,
        "hotkey": hotkey,
        "signature": signer.sign(preamble.encode()).hex(),
    }
    values.update(overrides)
    return values


def transport(
    signer: Keypair, values: dict[str, str], *, version: str = "2.0.2", ts: int | None = None
) -> dict[str, str]:
    """/submit's headers as the CLI's `create_transport_signature` builds them."""
    nonce, t_nonce = secrets.token_hex(16), secrets.token_hex(16)
    stamp = int(time.time()) if ts is None else ts
    preamble = (
        f"{values['created_at']}:{values['github_account']}:{values['gist_id']}:{values['hotkey']}"
        f":{nonce}:{t_nonce}:{version}:{stamp}"
    )
    return {
        "X-Signature": signer.sign(preamble.encode()).hex(),
        "X-Timestamp": str(stamp),
        "X-Nonce": nonce,
        "X-T-Nonce": t_nonce,
    }
