"""The sandbox child: its limits are really enforced, and it inherits nothing of the validator."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from proctor.validator import sandbox
from proctor.validator.sandbox import SandboxLimits, run_agent

FAST = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256)


def agent(body: str) -> bytes:
    return body.strip().encode() + b"\n"


def test_a_plain_agent_returns_its_answer_and_its_prints() -> None:
    code = agent(
        """
def agent_main(problem_data):
    print("looking at", problem_data["query"])
    return [{"product_id": "42", "echo": problem_data["query"]}]
"""
    )
    result = run_agent(code, {"query": "lamp"}, FAST)
    assert result.kind == sandbox.OK, result.reason
    assert result.value == [{"product_id": "42", "echo": "lamp"}]
    assert result.stdout.text() == "looking at lamp\n"
    assert result.cpu_seconds is not None and result.max_rss_kb


def test_an_infinite_loop_is_killed_at_the_cpu_limit() -> None:
    code = agent(
        """
def agent_main(problem_data):
    n = 0
    while True:
        n += 1
"""
    )
    started = time.monotonic()
    result = run_agent(code, {}, SandboxLimits(wall_seconds=30, cpu_seconds=1, memory_mb=256))
    assert result.kind == sandbox.CPU
    assert "CPU time limit of 1s" in (result.reason or "")
    assert time.monotonic() - started < 15


def test_an_agent_that_ignores_sigxcpu_still_dies_at_the_hard_cpu_limit() -> None:
    code = agent(
        """
import signal

def agent_main(problem_data):
    signal.signal(signal.SIGXCPU, signal.SIG_IGN)
    while True:
        pass
"""
    )
    result = run_agent(code, {}, SandboxLimits(wall_seconds=30, cpu_seconds=1, memory_mb=256))
    assert result.kind == sandbox.CPU, result.reason


def test_a_sleeping_agent_is_killed_at_the_wall_clock() -> None:
    code = agent(
        """
import time

def agent_main(problem_data):
    time.sleep(60)
    return []
"""
    )
    started = time.monotonic()
    result = run_agent(code, {}, SandboxLimits(wall_seconds=1, cpu_seconds=30, memory_mb=256))
    elapsed = time.monotonic() - started
    assert result.kind == sandbox.WALL
    assert result.reason == "wall-clock limit of 1s exceeded"
    assert elapsed < 10


def test_grandchildren_die_with_the_agent(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    code = agent(
        f"""
import subprocess, sys, time

def agent_main(problem_data):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open({str(marker)!r}, "w") as handle:
        handle.write(str(child.pid))
    time.sleep(60)
"""
    )
    result = run_agent(code, {}, SandboxLimits(wall_seconds=2, cpu_seconds=30, memory_mb=512))
    assert result.kind == sandbox.WALL
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), "the agent's own child outlived the wall-clock kill"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


def test_a_huge_allocation_is_refused() -> None:
    code = agent(
        """
def agent_main(problem_data):
    hoard = bytearray(2 * 1024 * 1024 * 1024)
    return [len(hoard)]
"""
    )
    result = run_agent(code, {}, SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256))
    assert result.kind == sandbox.MEMORY
    assert "memory limit of 256 MB" in (result.reason or "")


def test_growing_memory_step_by_step_is_refused_too() -> None:
    code = agent(
        """
def agent_main(problem_data):
    chunks = []
    while True:
        chunks.append(bytearray(16 * 1024 * 1024))
"""
    )
    result = run_agent(code, {}, SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256))
    assert result.kind == sandbox.MEMORY


def test_megabytes_of_output_are_capped_and_the_answer_still_arrives() -> None:
    code = agent(
        """
import sys

def agent_main(problem_data):
    line = "x" * 1023 + "\\n"
    for _ in range(8 * 1024):
        sys.stdout.write(line)
        sys.stderr.write(line)
    return [{"product_id": "1"}]
"""
    )
    limits = SandboxLimits(wall_seconds=30, cpu_seconds=20, memory_mb=256, output_bytes=4096)
    result = run_agent(code, {}, limits)
    assert result.kind == sandbox.OK
    assert result.value == [{"product_id": "1"}]
    for stream in (result.stdout, result.stderr):
        assert stream.total == 8 * 1024 * 1024
        assert len(stream.data) == 4096 and stream.truncated
    log = result.log()
    assert log["stdout_truncated"] and len(log["stdout"]) == 4096


def test_an_oversized_return_value_is_refused() -> None:
    code = agent(
        """
def agent_main(problem_data):
    return ["y" * (4 * 1024 * 1024)]
"""
    )
    limits = SandboxLimits(wall_seconds=30, cpu_seconds=20, memory_mb=512, result_bytes=1024 * 1024)
    result = run_agent(code, {}, limits)
    assert result.kind == sandbox.ERROR
    assert "larger than 1048576 bytes" in (result.reason or "")


def test_file_writes_are_capped() -> None:
    code = agent(
        """
def agent_main(problem_data):
    with open("big.bin", "wb") as handle:
        handle.write(b"z" * (4 * 1024 * 1024))
    return []
"""
    )
    limits = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256, file_bytes=1024 * 1024)
    result = run_agent(code, {}, limits)
    assert result.kind == sandbox.ERROR
    assert result.value is None


def test_the_child_inherits_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_SECRET_KEY", "parent-secret-key-value")
    monkeypatch.setenv("MY_TOKEN", "parent-token-value")
    monkeypatch.setenv("PROCTOR_DATABASE_URL", "postgresql://user:pw@db/proctor")
    monkeypatch.setenv("BT_WALLET_PATH", "/home/validator/.bittensor/wallets")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    code = agent(
        """
import os, sys

def agent_main(problem_data):
    return [{"env": dict(os.environ), "path": sys.path, "cwd": os.getcwd(), "files": sorted(os.listdir("."))}]
"""
    )
    result = run_agent(code, {}, FAST)
    assert result.kind == sandbox.OK, result.reason
    seen = result.value[0]
    assert set(seen["env"]) <= {"PATH", "LANG", "LC_ALL", "HOME", "TMPDIR"}
    dump = json.dumps(seen)
    for secret in (
        "parent-secret-key-value",
        "parent-token-value",
        "user:pw",
        ".bittensor",
        "/somewhere/else",
    ):
        assert secret not in dump
    assert not any("site-packages" in entry for entry in seen["path"]), (
        "the child can reach installed packages"
    )
    assert seen["env"]["HOME"] == seen["cwd"] and "proctor-sandbox-" in seen["cwd"]
    assert seen["files"] == ["agent.py"], "the job file must be gone before the agent runs"
    assert not Path(seen["cwd"]).exists(), "the working directory is removed afterwards"


def test_the_child_cannot_import_what_the_validator_has_installed() -> None:
    code = agent(
        """
def agent_main(problem_data):
    import proctor
    return []
"""
    )
    result = run_agent(code, {}, FAST)
    assert result.kind == sandbox.ERROR
    assert "ModuleNotFoundError" in (result.reason or "")


def test_stdin_is_empty_and_the_standard_library_works() -> None:
    code = agent(
        """
import sys, json, re, math, collections, statistics

def agent_main(problem_data):
    return [{"stdin": sys.stdin.read(), "mean": statistics.mean([1, 2, 3])}]
"""
    )
    result = run_agent(code, {}, FAST)
    assert result.kind == sandbox.OK, result.reason
    assert result.value == [{"stdin": "", "mean": 2}]


@pytest.mark.parametrize(
    ("body", "kind", "fragment"),
    [
        ("def agent_main(p):\n    raise ValueError('no idea')\n", sandbox.ERROR, "ValueError: no idea"),
        ("def agent_main(p):\n    return [object()]\n", sandbox.ERROR, "not JSON-serializable"),
        ("def agent_main(p):\n    return [float('nan')]\n", sandbox.ERROR, "not JSON-serializable"),
        ("import sys\ndef agent_main(p):\n    sys.exit(3)\n", sandbox.ERROR, "SystemExit"),
        ("import os\ndef agent_main(p):\n    os._exit(7)\n", sandbox.CRASH, "exited (7) without a result"),
        ("def main(p):\n    return []\n", sandbox.ERROR, "no callable agent_main"),
        ("def agent_main(p)\n    return []\n", sandbox.ERROR, "SyntaxError"),
    ],
)
def test_agent_failures_are_reported_not_raised(body: str, kind: str, fragment: str) -> None:
    result = run_agent(body.encode(), {}, FAST)
    assert result.kind == kind
    assert fragment in (result.reason or ""), result.reason


def test_a_probe_loads_the_agent_without_calling_it() -> None:
    code = agent(
        """
def agent_main(problem_data):
    raise RuntimeError("must not be called by a probe")
"""
    )
    assert run_agent(code, None, FAST).kind == sandbox.OK


def test_cancel_stops_a_running_agent() -> None:
    import threading

    cancel = threading.Event()
    code = agent("import time\ndef agent_main(p):\n    time.sleep(60)\n")
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    started = time.monotonic()
    result = run_agent(code, {}, SandboxLimits(wall_seconds=30, cpu_seconds=30, memory_mb=256), cancel=cancel)
    assert result.kind == sandbox.CANCELLED
    assert time.monotonic() - started < 10


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        SandboxLimits(memory_mb=8)
    with pytest.raises(ValueError):
        SandboxLimits(wall_seconds=0)
