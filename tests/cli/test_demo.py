"""`proctor demo` end to end, and the validator command's own option handling."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import yaml
from bittensor_wallet import Keypair
from typer.testing import CliRunner

from proctor.cli.demo import MARKER, DemoError, prepare_folder, registry_document, server_environment
from proctor.cli.main import app
from tests.support.server import free_port
from tests.validator.helpers import proctor

DEMO_BOUND_SECONDS = 240  # generous: a loaded CI machine; the demo itself takes seconds
BOB = Keypair.create_from_uri("//Bob").ss58_address


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_the_demo_qualifies_races_and_prints_weights_on_a_fresh_folder_and_reuses_it(
    tmp_path: Path,
) -> None:
    data_dir, port = tmp_path / "demo", free_port()
    started = time.monotonic()
    first = proctor(
        "demo", "--exit-after", "--data-dir", str(data_dir), "--port", str(port), timeout=DEMO_BOUND_SECONDS
    )
    elapsed = time.monotonic() - started
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "demo-agent is ELIGIBLE" in out and "final score 0.875" in out
    for link in ("/v1/public/leaderboard", "/v1/public/top", "/problems", "/docs", "/dashboard/agents/"):
        assert f"http://127.0.0.1:{port}" in out and link in out
    assert out.index(f"dashboard: http://127.0.0.1:{port}/") < out.index("submits the sample agent")
    assert "alice" in out and "charlie" in out and "✓ accepted" in out
    # The race: the sample bank (3 hidden problems; the agent solves 2), run by both validators.
    assert "race bank ✓ race bank of suite 1 imported problems=3" in " ".join(out.split())
    assert "race 1 running" in out
    assert "race 1 is RACE_COMPLETE" in out and "race score 0.6667" in out
    assert out.index("race 1 running") < out.index("race 1 is RACE_COMPLETE")
    weights = out[out.index("weights after race 1") :]
    rows = [line.split("│")[1:-1] for line in weights.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["1", BOB, "0.6667", "0.250000"],
        ["-", "burn (uid 0)", "-", "0.750000"],
    ]
    assert elapsed < DEMO_BOUND_SECONDS
    assert (data_dir / MARKER).exists() and (data_dir / "server.log").exists()
    assert (data_dir / "proctor.db").exists(), "the demo must keep its data in its own folder"
    assert port_is_closed(port), "--exit-after must stop the server"

    again = proctor(
        "demo", "--exit-after", "--data-dir", str(data_dir), "--port", str(port), timeout=DEMO_BOUND_SECONDS
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already submitted (state ELIGIBLE)" in again.stdout and "ELIGIBLE" in again.stdout
    assert "race 1 is already complete; reusing it" in again.stdout and "0.250000" in again.stdout


def test_the_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["demo", "--exit-after", "--data-dir", str(tmp_path / "d"), "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"port {port}" in result.output and "--port" in result.output
    assert not (tmp_path / "d").exists(), "a busy port is refused before the demo touches its folder"


def test_the_demo_folder_is_guarded(tmp_path: Path) -> None:
    foreign = tmp_path / "important"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(DemoError, match="not a proctor demo folder"):
        prepare_folder(foreign, reset=True)
    with pytest.raises(DemoError):
        prepare_folder(foreign, reset=False)
    assert (foreign / "keep.txt").read_text() == "precious"

    demo_dir = tmp_path / "demo"
    prepare_folder(demo_dir, reset=False)
    (demo_dir / "leftover").write_text("x")
    prepare_folder(demo_dir, reset=True)
    assert not (demo_dir / "leftover").exists() and (demo_dir / MARKER).exists()
    registry = yaml.safe_load((demo_dir / "registry.yaml").read_text())
    assert registry == registry_document()
    permits = [n for n in registry["neurons"] if n.get("validator_permit")]
    assert len(permits) == 2 and len(registry["neurons"]) == 3


def test_the_demo_server_ignores_the_callers_proctor_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROCTOR_DATABASE_URL", "postgresql+asyncpg://prod/db")
    monkeypatch.setenv("PROCTOR_REDIS_URL", "redis://prod:6379/0")
    monkeypatch.setenv("PROCTOR_BLOB_URL", "s3://prod-bucket")
    env = server_environment(tmp_path)
    assert (
        "PROCTOR_DATABASE_URL" not in env and "PROCTOR_REDIS_URL" not in env and "PROCTOR_BLOB_URL" not in env
    )
    assert env["PROCTOR_DATA_DIR"] == str(tmp_path)
    assert env["PROCTOR_RATE_LIMIT_GLOBAL"] == "100000/minute"


def test_validator_run_help_documents_the_scoring_rule() -> None:
    result = CliRunner().invoke(app, ["validator", "run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Scoring rule" in text and "first k distinct product_id" in text
    assert "mean over all its problems" in text
    for option in ("--once", "--max-runs", "--problem-timeout", "--memory-mb", "--cpu-seconds", "--json"):
        assert option in text


def test_validator_run_rejects_bad_options() -> None:
    runner = CliRunner()
    no_key = runner.invoke(app, ["validator", "run", "--once"])
    assert no_key.exit_code == 2 and "--uri" in no_key.output
    bad = runner.invoke(app, ["validator", "run", "--once", "--uri", "//Alice", "--evaluator", "nope"])
    assert bad.exit_code == 2 and "module:attr" in bad.output
    tiny = runner.invoke(app, ["validator", "run", "--once", "--uri", "//Alice", "--memory-mb", "8"])
    assert tiny.exit_code == 2
