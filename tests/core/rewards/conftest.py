"""Fixtures for the Merkle tests: the real ``@openzeppelin/merkle-tree`` under Node, installed on demand.

``tests/js`` pins the package (exact version, committed ``package-lock.json``); when its ``node_modules``
is missing, the session fixture runs ``npm ci`` there. Without ``node``/``npm`` the cross-checks are
skipped, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

JS_DIR = Path(__file__).resolve().parents[2] / "js"
OZ_PACKAGE_JSON = JS_DIR / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"
CI = os.environ.get("CI", "").lower() == "true"

NodeRunner = Callable[[str, Any], Any]


def _unavailable(reason: str) -> NoReturn:
    """Fail under CI=true, skip with the reason otherwise."""
    message = f"@openzeppelin/merkle-tree cross-check unavailable: {reason}"
    if CI:
        pytest.fail(f"{message}; CI=true requires Node.js 20+ and npm with registry access")
    pytest.skip(message)


def _pinned_version() -> str:
    """The exact version tests/js/package.json pins."""
    manifest = json.loads((JS_DIR / "package.json").read_text())
    return str(manifest["dependencies"]["@openzeppelin/merkle-tree"])


def _ensure_installed(npm: str) -> None:
    """Run ``npm ci`` in tests/js unless the pinned package is already installed."""
    if OZ_PACKAGE_JSON.exists():
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0 or not OZ_PACKAGE_JSON.exists():
        _unavailable(f"`npm ci` in {JS_DIR} failed: {done.stderr.strip()[-2000:]}")


@pytest.fixture(scope="session")
def oz_node() -> NodeRunner:
    """Return ``run(script, payload)``: run ``tests/js/<script>`` with JSON on stdin, parse its stdout."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("`node` and `npm` must be on PATH")
    _ensure_installed(npm)
    installed = json.loads(OZ_PACKAGE_JSON.read_text())["version"]
    assert installed == _pinned_version(), f"tests/js has {installed}, expected {_pinned_version()}"

    def run(script: str, payload: Any) -> Any:
        done = subprocess.run(
            [node, str(JS_DIR / script)],
            input=json.dumps(payload),
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, f"node {script} failed:\n{done.stderr}"
        return json.loads(done.stdout)

    return run
