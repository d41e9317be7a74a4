"""The miner's side of Bitrecs' wire, as Bitrecs' CLI speaks it: the body signed over
`{created_at}:{github_account}:{gist_id}:{hotkey}` (created_at as GitHub's stamp through
`fromisoformat(...).isoformat()`), and /submit's transport headers signed over
`…:{X-Nonce}:{X-T-Nonce}:{version}:{X-Timestamp}`. Used by `proctor bitrecs` and the bench."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from bittensor_wallet import Keypair


def created_at_text(github_created_at: str) -> str:
    return datetime.fromisoformat(github_created_at.replace("Z", "+00:00")).isoformat()


def submission_body(signer: Keypair, *, created_at: str, account: str, gist_id: str) -> dict[str, str]:
    hotkey = signer.ss58_address
    preamble = f"{created_at}:{account}:{gist_id}:{hotkey}"
    return {
        "created_at": created_at,
        "github_account": account,
        "gist_id": gist_id,
        "hotkey": hotkey,
        "signature": signer.sign(preamble.encode()).hex(),
    }


def transport_headers(signer: Keypair, body: dict[str, str], *, version: str) -> dict[str, str]:
    nonce, t_nonce, ts = secrets.token_hex(16), secrets.token_hex(16), int(time.time())
    preamble = (
        f"{body['created_at']}:{body['github_account']}:{body['gist_id']}:{body['hotkey']}"
        f":{nonce}:{t_nonce}:{version}:{ts}"
    )
    return {
        "X-Signature": signer.sign(preamble.encode()).hex(),
        "X-Timestamp": str(ts),
        "X-Nonce": nonce,
        "X-T-Nonce": t_nonce,
    }


@dataclass
class Answer:
    status: int
    body: Any


class BitrecsClient:
    def __init__(self, base_url: str, *, github_api_url: str, version: str, timeout: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.github = github_api_url.rstrip("/")
        self.version = version

    def gist_created_at(self, gist_id: str) -> str:
        response = httpx.get(f"{self.github}/gists/{gist_id}", timeout=15.0)
        response.raise_for_status()
        return created_at_text(response.json()["created_at"])

    def body(self, signer: Keypair, *, account: str, gist_id: str) -> dict[str, str]:
        return submission_body(
            signer, created_at=self.gist_created_at(gist_id), account=account, gist_id=gist_id
        )

    def check(self, body: dict[str, str]) -> Answer:
        response = self.http.post("/check", json=body)
        return Answer(response.status_code, _json(response))

    def submit(self, signer: Keypair, body: dict[str, str]) -> Answer:
        headers = transport_headers(signer, body, version=self.version)
        response = self.http.post("/submit", json=body, headers=headers)
        return Answer(response.status_code, _json(response))

    def close(self) -> None:
        self.http.close()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
