"""`proctor miner submit | --check | status` against a real `proctor serve` process."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bittensor_wallet import Wallet
from typer.testing import CliRunner

from proctor.cli.main import app
from tests.support.agents import INTEGRITY_VIOLATION, SECURITY_VIOLATION, valid_agent
from tests.support.server import ServerProcess, free_port
from tests.validator.helpers import DEMO_SUITE, import_suite, proctor

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("miner-cli")
    env = {
        "PROCTOR_DATA_DIR": str(root / "data"),
        "PROCTOR_REGISTRY": "open",  # any valid key is a registered miner
        "PROCTOR_RATE_LIMIT_GLOBAL": "100000/minute",
        "PROCTOR_LOG_LEVEL": "WARNING",
    }
    import_suite(env, DEMO_SUITE)
    with ServerProcess(env, root) as server:
        yield server.base_url


def miner(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["miner", *args], env={"COLUMNS": "250"})
    return result.exit_code, result.output


def agent_file(tmp_path: Path, content: bytes, name: str = "agent.py") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def test_submit_is_accepted_then_cooldown_refuses_quickly_and_status_shows_it(
    url: str, tmp_path: Path
) -> None:
    code, out = miner(
        "submit", agent_file(tmp_path, valid_agent()), "--name", "lamp-finder", "--url", url, "--uri", "//Bob"
    )
    assert code == 0, out
    assert "ACCEPTED" in out
    version = re.search(r"agent_version_id\s+([0-9a-f-]{36})", out)
    assert version and re.search(r"agent_id\s+[0-9a-f-]{36}", out) and "next_allowed_at" in out

    started = time.monotonic()
    code, out = miner(
        "submit", agent_file(tmp_path, valid_agent()), "--name", "lamp-finder", "--url", url, "--uri", "//Bob"
    )
    assert time.monotonic() - started < 5, "a refused submission must not wait on SDK retries"
    assert code == 1
    assert "REJECTED (429 COOLDOWN_ACTIVE)" in out
    assert "remaining_seconds" in out and "next_allowed_at" in out

    code, out = miner("status", "--url", url, "--uri", "//Bob")
    assert code == 0, out
    assert "lamp-finder" in out and version.group(1) in out and "QUEUED" in out
    assert "0/2" in out  # successful evaluations / required
    assert "can_submit: no" in out and "next_allowed_at" in out


def test_check_lists_every_gate_and_the_violations(url: str, tmp_path: Path) -> None:
    code, out = miner(
        "submit",
        agent_file(tmp_path, SECURITY_VIOLATION),
        "--name",
        "bad",
        "--check",
        "--url",
        url,
        "--uri",
        "//Charlie",
    )
    assert code == 1
    assert "would be REJECTED (422 CODE_ANALYSIS_ERROR)" in out
    assert re.search(r"^\s+1: forbidden-import — import of forbidden module 'subprocess'", out, re.M), out
    assert re.search(r"^\s+4: forbidden-import — ", out, re.M)
    for gate in ("name", "size", "encoding", "syntax", "entrypoint", "code", "registration", "cooldown"):
        assert re.search(rf"│ {gate}\s+│", out), gate
    assert re.search(r"│ code\s+│ rejected", out)


def test_submit_with_violations_is_a_422_with_line_rule_message(url: str, tmp_path: Path) -> None:
    code, out = miner(
        "submit",
        agent_file(tmp_path, INTEGRITY_VIOLATION),
        "--name",
        "obfuscated",
        "--url",
        url,
        "--uri",
        "//Dave",
    )
    assert code == 1
    assert "REJECTED (422 CODE_ANALYSIS_ERROR)" in out
    assert re.search(r"^\s+1: encoding-import — .+", out, re.M), out
    assert "remaining_seconds" in out


def test_a_passing_check_stores_nothing(url: str, tmp_path: Path) -> None:
    code, out = miner(
        "submit",
        agent_file(tmp_path, valid_agent()),
        "--name",
        "dry",
        "--check",
        "--url",
        url,
        "--uri",
        "//Ferdie",
    )
    assert code == 0, out
    assert "would be ACCEPTED" in out and "rejected" not in out
    code, out = miner("status", "--url", url, "--uri", "//Ferdie")
    assert code == 0 and "no agents yet" in out and "can_submit: yes" in out


def test_json_output_is_the_server_answer(url: str, tmp_path: Path) -> None:
    import json

    code, out = miner(
        "submit",
        agent_file(tmp_path, b"def agent_main(p)\n"),
        "--name",
        "x",
        "--json",
        "--url",
        url,
        "--uri",
        "//Eve",
    )
    assert code == 1
    answer = json.loads(out)
    assert answer["status"] == 400 and answer["body"]["error_code"] == "INVALID_FILE"
    code, out = miner("status", "--json", "--url", url, "--uri", "//Eve")
    assert code == 0 and json.loads(out)["can_submit"] is True


def test_a_wallet_hotkey_signs(url: str, tmp_path: Path) -> None:
    wallet = Wallet(name="miner", hotkey="hot", path=str(tmp_path / "wallets"))
    wallet.create_new_hotkey(use_password=False, overwrite=True, suppress=True)
    args = ["--wallet-name", "miner", "--wallet-hotkey", "hot", "--wallet-path", str(tmp_path / "wallets")]
    code, out = miner("status", "--url", url, *args)
    assert code == 0, out
    assert wallet.hotkey.ss58_address in out
    code, out = miner(
        "status", "--url", url, "--wallet-name", "nobody", "--wallet-path", str(tmp_path / "wallets")
    )
    assert code == 2 and "cannot load hotkey" in out


def test_key_options_are_checked(url: str) -> None:
    code, out = miner("status", "--url", url)
    assert code == 2 and "--uri //Alice" in out
    code, out = miner("status", "--url", url, "--uri", "//Dave", "--wallet-name", "x")
    assert code == 2 and "not both" in out
    code, out = miner("status", "--url", f"http://127.0.0.1:{free_port()}", "--uri", "//Dave")
    assert code == 1 and "cannot reach" in out


def test_the_real_entry_point_exits_non_zero_on_rejection(url: str, tmp_path: Path) -> None:
    done = proctor(
        "miner",
        "submit",
        agent_file(tmp_path, SECURITY_VIOLATION),
        "--name",
        "bad",
        "--url",
        url,
        "--uri",
        "//Alice",
    )
    assert done.returncode == 1
    assert "1: forbidden-import — import of forbidden module 'subprocess'" in done.stdout
