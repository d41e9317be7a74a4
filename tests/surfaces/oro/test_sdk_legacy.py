"""ORO's published validator pins `oro-sdk==1.0.50`: drive a real server with that version's own client
(installed into a private folder, imported ahead of 1.0.78 in a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import services
from tests.support.provider_double import CHUTES_CLIENT_ID, ProviderDouble
from tests.support.server import ServerProcess
from tests.support.signing import BOB
from tests.support.suites import write_oro_suite
from tests.surfaces.oro.test_sdk_cycle import body, cli, signed

pytestmark = pytest.mark.slow
LEGACY_DIR = Path(__file__).resolve().parents[3] / ".cache" / "oro-sdk-1.0.50"
SCRIPT = Path(__file__).resolve().parents[2] / "support" / "legacy_validator.py"


@pytest.fixture(scope="session")
def legacy_sdk() -> Path:
    if not (LEGACY_DIR / "oro_sdk").is_dir():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(LEGACY_DIR),
                "oro-sdk==1.0.50",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            services.unavailable("the package index (to fetch oro-sdk==1.0.50)", done.stderr[-500:])
    return LEGACY_DIR


def test_a_1_0_50_validator_completes_the_cycle(
    legacy_sdk: Path,
    server_env: dict[str, str],
    start_server: Callable[[dict[str, str]], ServerProcess],
    tmp_path: Path,
) -> None:
    from oro_sdk.api.miner import store_inference_credential, submit_agent
    from oro_sdk.models import StoreInferenceCredentialRequest

    from tests.support.agents import valid_agent

    provider = ProviderDouble().start()
    provider.state.refresh_tokens.add("rt-legacy")
    try:
        env = {
            **server_env,
            "PROCTOR_SECRET_KEY": "legacy-test-secret-key-0123456789abcdefgh",
            "PROCTOR_CHUTES_API_URL": provider.base_url,
            "PROCTOR_CHUTES_CLIENT_ID": CHUTES_CLIENT_ID,
        }
        server = start_server(env)
        cli(env, "admin", "suite", "import", str(write_oro_suite(tmp_path / "s.json", 3)), "--activate")
        bob = signed(server, BOB)
        assert store_inference_credential.sync(
            client=bob, provider="chutes", body=StoreInferenceCredentialRequest(credential="rt-legacy")
        )
        assert submit_agent.sync(client=bob, body=body("legacy", valid_agent())) is not None

        def run(uri: str, score: str) -> dict[str, object]:
            child_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(legacy_sdk), str(Path.cwd())])}
            done = subprocess.run(
                [sys.executable, str(SCRIPT), server.base_url, uri, score],
                env=child_env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout.strip().splitlines()[-1])

        first, second = run("//Alice", "0.5"), run("//Eve", "0.7")
    finally:
        provider.stop()
    assert str(legacy_sdk) in str(first["sdk"]), "the child really used oro-sdk 1.0.50"
    for seen in (first, second):
        assert seen["claimed"] and seen["heartbeat"] and seen["progress"] and seen["problems"] == 3
        assert isinstance(seen["chutes_access_token"], str) and seen["chutes_access_token"]
    assert second["eligible"] is True and second["final_score"] == pytest.approx(0.6)
