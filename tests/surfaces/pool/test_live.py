"""The Pool miner sequence of reference pool-api §7.1 over real HTTP against a `proctor serve` process,
reproduced with our own code: seeds imported by the operator command, register, lease, submit with
Pool's body-auth copy, the window refusal, and the fields the validators' verifier reads on /status."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
from bittensor_wallet import Keypair

from tests.support.server import ServerProcess

SEEDS = Path(__file__).resolve().parents[3] / "src" / "proctor" / "data" / "pool" / "seeds.json"


def envelope(key: Keypair) -> tuple[dict[str, str], dict[str, str]]:
    ts = str(int(time.time()))
    sig = key.sign(f"auth:{ts}").hex()
    headers = {"X-Key": key.ss58_address, "X-Timestamp": ts, "X-Signature": sig}
    return headers, {"public_address": key.ss58_address, "signature": sig, "message": f"auth:{ts}"}


def test_a_lease_miner_over_the_wire(tmp_path: Path) -> None:
    env = {
        "PROCTOR_DATA_DIR": str(tmp_path / "data"),
        "PROCTOR_REGISTRY": "open",
        "PROCTOR_SURFACES": "oro,pool,claims",
        "PROCTOR_EPOCH_PUBLISH_INTERVAL_SECONDS": "3600",
        "PROCTOR_EPOCH_BUDGET_UNITS": "1000000",
        "PROCTOR_EPOCH_SCORES": "pool",
        "PROCTOR_LOG_LEVEL": "WARNING",
    }
    server = ServerProcess(env, tmp_path)
    imported = subprocess.run(
        [sys.executable, "-m", "proctor", "admin", "pool", "seeds", "import", str(SEEDS)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0 and "added=4" in imported.stdout, imported.stderr
    key = Keypair.create_from_uri("//pool-live-miner")
    with server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.post("/api/v1/miners/register", json={}, headers=envelope(key)[0]).status_code == 200
        body = {"eval_batch_size": 8, "seed_batch_size": 8, "gossip_limit": 0}
        lease = http.post("/api/v1/tasks/lease", json=body, headers=envelope(key)[0])
        assert lease.status_code == 200, lease.text
        got = lease.json()
        assert len(got["evaluate_algorithms"]) == 4 and got["evolve_budget"] == 1
        headers, signed = envelope(key)
        submission = {
            "evaluations": [{"algorithm_id": a["id"], "score": 0.61} for a in got["evaluate_algorithms"]],
            "evolutions": [{"parent_algorithm_ids": [1], "algorithm_dsl": "# setup:\ns2 = 0.5\n"}],
            "iterations": 164,
            **signed,
        }
        done = http.post(f"/api/v1/tasks/{got['lease_id']}/submit_lease", json=submission, headers=headers)
        assert done.status_code == 200 and done.json()["evaluations_accepted"] == 4, done.text
        again = http.post("/api/v1/tasks/lease", json=body, headers=envelope(key)[0])
        assert again.status_code == 400
        assert again.json() == {"detail": "Lease already issued for this window. Wait for next window."}
        gone = http.post(f"/api/v1/tasks/{got['lease_id']}/submit_lease", json=submission, headers=headers)
        assert gone.json() == {"detail": "Active lease assignment not found"}
        status = http.get("/status").json()
        runtime = status["onchain_runtime"]
        assert status["status"] == "healthy" and runtime["enabled"] is True
        assert runtime["proof_api"]["enabled"] is True and runtime["contract_status"]["read_error"] is None
        assert {"name": "publisher", "running": True}.items() <= runtime["processes"][0].items()
        assert http.get("/health").json()["status"] == "healthy"
        assert http.get("/claims/epochs").json() == {"epochs": [], "default_epoch": None}
