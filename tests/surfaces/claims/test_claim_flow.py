"""The claim flow over real HTTP against `proctor serve` and `proctor claims serve` processes, on SQLite
and PostgreSQL: recipients set as the Pool GUI sets them, epochs published by the CLI, proofs fetched as
the claim client fetches them, simulated claims."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from proctor.auth.verifier import public_key
from proctor.core.rewards.merkle import LEAF_ENCODING, StandardMerkleTree, verify
from tests.core.rewards.keys import hotkey, snapshot, write_snapshot
from tests.support.server import ServerProcess
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE
from tests.surfaces.claims.conftest import ClaimsServerProcess, cli
from tests.surfaces.pool.signing import recipient_headers

pytestmark = pytest.mark.slow

A, B, C = ALICE.ss58_address, BOB.ss58_address, CHARLIE.ss58_address
COLD1, COLD2 = hotkey("flow-cold-1"), hotkey("flow-cold-2")


def set_recipient(base: str, signer: Any, coldkey: str, timestamp: int) -> None:
    # Exactly what gui/pool_coldkey_sync.py sends: the root route and the legacy body key.
    response = httpx.post(
        f"{base}/coldkey_address/update",
        json={"coldkey_address": coldkey},
        headers=recipient_headers(signer, coldkey, timestamp=timestamp),
    )
    assert response.status_code == 200 and response.json()["status"] == "success", response.text


def publish(env: dict[str, str], path: Path, budget: int, *args: str) -> str:
    done = cli(env, "admin", "epoch", "publish", "--budget", str(budget), "--scores", str(path), *args)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def claim_body(package: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {k: package[k] for k in ("index", "hotkey", "recipient_coldkey", "amount_units", "proof")}
    return body | changes


def check_package(package: dict[str, Any], epoch: int, hk: str, recipient: str, amount: int) -> None:
    assert (package["epoch"], package["hotkey"], package["recipient_coldkey"]) == (epoch, hk, recipient)
    assert package["amount"] == package["amount_units"] == amount
    value = (epoch, package["index"], public_key(hk), public_key(recipient), amount)
    assert verify(package["root"], LEAF_ENCODING, value, package["proof"])


def test_claim_flow(
    backend_env: dict[str, str],
    start_server: Callable[[dict[str, str]], ServerProcess],
    start_claims_server: Callable[[dict[str, str]], ClaimsServerProcess],
    tmp_path: Path,
) -> None:
    server = start_server(backend_env)
    base, claims = server.base_url, server.base_url + "/claims"
    assert httpx.get(f"{claims}/epochs").json() == {"epochs": [], "default_epoch": None}
    assert httpx.get(f"{claims}/epoch").json() == {"detail": "not found"}
    now = int(time.time())
    set_recipient(base, ALICE, COLD1, now - 20)

    scores = write_snapshot(tmp_path / "s1.json", snapshot((3, {A: 2, B: 1}), (1, {C: "0.25"})))
    assert "epoch 1 published" in publish(backend_env, scores, 1_000_000)
    assert httpx.get(f"{claims}/epochs").json() == {"epochs": [1], "default_epoch": 1}
    meta = httpx.get(f"{claims}/epoch/1").json()
    assert (meta["epoch"], meta["num_of_leaves"], meta["total_units"], meta["is_default"]) == (
        1,
        3,
        1_000_000,
        True,
    )
    assert meta["tree_uri"] == f"{claims}/epoch/1/tree"
    assert httpx.get(f"{claims}/epoch").json() == meta

    package = httpx.get(f"{claims}/epoch/1/claim/{A}").json()
    check_package(package, 1, A, COLD1, 500_000)
    assert httpx.get(f"{claims}/epoch/1/proof/{A}").json() == package
    assert httpx.get(f"{claims}/epoch/claim/{A}").json() == package
    assert httpx.get(f"{claims}/epoch/proof/{A}").json() == package
    missing = httpx.get(f"{claims}/epoch/1/claim/{DAVE.ss58_address}")
    assert (missing.status_code, missing.json()) == (404, {"detail": "not found"})
    assert httpx.get(f"{claims}/epoch/9/claim/{A}").status_code == 404

    # A recipient change after publication never alters the published leaf.
    set_recipient(base, ALICE, COLD2, now - 10)
    assert httpx.get(f"{claims}/epoch/1/claim/{A}").json() == package

    url = f"{claims}/epoch/1/claim"
    flipped = package["proof"][0][:-1] + ("1" if package["proof"][0][-1] == "0" else "0")
    for tampered in (
        claim_body(package, amount_units=package["amount_units"] + 1),
        claim_body(package, recipient_coldkey=COLD2),
        claim_body(package, proof=[flipped, *package["proof"][1:]]),
        claim_body(package, index=package["index"] + 1),
    ):
        refused = httpx.post(url, json=tampered)
        assert refused.status_code == 400 and "invalid proof" in refused.json()["detail"], refused.text
    assert httpx.post(url, json=claim_body(package, proof=["0xzz"])).status_code == 400
    assert httpx.post(url, json={"hotkey": A}).status_code == 422
    paid = httpx.post(url, json=claim_body(package))
    assert paid.status_code == 200, paid.text
    assert paid.json() | {"claimed_at": None} == {
        "status": "claimed",
        "simulated": True,
        "epoch": 1,
        "index": package["index"],
        "hotkey": A,
        "recipient_coldkey": COLD1,
        "amount_units": 500_000,
        "claimed_before_units": 0,
        "paid_units": 500_000,
        "claimed_at": None,
    }
    again = httpx.post(url, json=claim_body(package))
    assert again.status_code == 409 and "already claimed" in again.json()["detail"]
    ledger = httpx.get(f"{claims}/ledger").json()
    assert (ledger["epoch"], ledger["claim_count"], ledger["paid_units"]) == (1, 1, 500_000)

    # Epoch 2: cumulative amounts, the new recipient; a published epoch cannot be republished.
    publish(backend_env, write_snapshot(tmp_path / "s2.json", snapshot((1, {A: 1, C: 1}))), 100_000)
    republish = cli(
        backend_env, "admin", "epoch", "publish", "--budget", "5", "--scores", str(scores), "--epoch", "2"
    )
    assert republish.returncode == 1 and "already published" in republish.stderr
    latest = httpx.get(f"{claims}/epoch/claim/{A}").json()
    check_package(latest, 2, A, COLD2, 550_000)
    assert httpx.get(f"{claims}/epoch/1/claim/{A}").json() == package, "epoch 1 is untouched"
    bob_latest = httpx.get(f"{claims}/epoch/2/claim/{B}").json()
    check_package(bob_latest, 2, B, B, 250_000)
    delta = httpx.post(f"{claims}/epoch/claim", json=claim_body(latest))
    assert delta.status_code == 200 and delta.json()["paid_units"] == 50_000
    assert delta.json()["recipient_coldkey"] == COLD2
    assert httpx.post(f"{claims}/epoch/2/claim", json=claim_body(bob_latest)).status_code == 200
    bob_old = httpx.get(f"{claims}/epoch/1/claim/{B}").json()
    assert httpx.post(f"{claims}/epoch/1/claim", json=claim_body(bob_old)).status_code == 409
    assert httpx.get(f"{claims}/ledger/2").json()["paid_units"] == 300_000

    dump = httpx.get(f"{claims}/epoch/2/tree")
    assert dump.status_code == 200 and dump.headers["content-type"] == "application/json"
    tree = StandardMerkleTree.load(dump.json())
    assert tree.root == latest["root"] and len(tree) == 3

    # The standalone claim app on the same database, simulation off: the same proofs, no claim routes.
    standalone = start_claims_server(
        {k: v for k, v in backend_env.items() if k != "PROCTOR_CLAIMS_SIMULATION"}
    )
    root = standalone.base_url
    health = httpx.get(f"{root}/health").json()
    assert (health["status"], health["default_epoch"], health["simulation"]) == ("healthy", 2, False)
    assert httpx.get(f"{root}/epochs").json() == {"epochs": [2, 1], "default_epoch": 2}
    assert httpx.get(f"{root}/epoch/2/claim/{A}").json() == latest
    assert httpx.get(f"{root}/epoch/1/proof/{A}").json() == package
    assert httpx.get(f"{root}/epoch/2").json()["tree_uri"] == f"{root}/epoch/2/tree"
    assert httpx.get(f"{root}/epoch/2/claim/{DAVE.ss58_address}").json() == {"detail": "not found"}
    assert httpx.post(f"{root}/epoch/claim", json=claim_body(latest)).status_code == 405
    assert httpx.get(f"{root}/ledger").status_code == 404
    assert json.loads(httpx.get(f"{root}/epoch/1/tree").content) == json.loads(
        httpx.get(f"{claims}/epoch/1/tree").content
    )


def test_standalone_claims_with_simulation(
    backend_env: dict[str, str],
    start_claims_server: Callable[[dict[str, str]], ClaimsServerProcess],
    tmp_path: Path,
) -> None:
    if "PROCTOR_DATABASE_URL" not in backend_env:
        assert cli(backend_env, "db", "upgrade").returncode == 0
    publish(backend_env, write_snapshot(tmp_path / "s.json", snapshot((1, {A: 1, B: 1}))), 10)
    server = start_claims_server(backend_env)
    package = httpx.get(f"{server.base_url}/epoch/1/claim/{B}").json()
    assert httpx.post(f"{server.base_url}/epoch/1/claim", json=claim_body(package)).status_code == 200
    assert httpx.post(f"{server.base_url}/epoch/1/claim", json=claim_body(package)).status_code == 409
    assert httpx.get(f"{server.base_url}/ledger/1").json()["claim_count"] == 1
