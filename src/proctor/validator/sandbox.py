"""Run an agent's `agent_main(problem_data)` once, in a child process with hard limits (Linux).

Design:

- **One child per call.** `python -I -S -B _child.py FD`: isolated mode (no PYTHON* variables, no
  user site, the script's folder not on sys.path) and no `site`, so the child can import the standard
  library and nothing else that is installed — not proctor, not the wallet, not httpx. The child reads
  its job file, deletes it, applies its own limits, then loads the agent (limits are set inside the
  child because `preexec_fn` is unsafe while the validator's heartbeat thread runs).
- **Limits.** CPU seconds (`RLIMIT_CPU`: SIGXCPU, then SIGKILL a second later), address space
  (`RLIMIT_AS`: allocations beyond it raise MemoryError), file size (`RLIMIT_FSIZE`), open files
  (`RLIMIT_NOFILE`), no core dumps, and a wall clock enforced here: the child runs in its own session
  and its whole process group is killed at the deadline (so are grandchildren it left behind).
- **Environment.** Only `PATH`, `LANG`/`LC_ALL` (C.UTF-8), and `HOME`/`TMPDIR` pointing at the
  child's own fresh working directory (mode 0700, deleted afterwards). Nothing of the validator's
  environment is inherited: no `PROCTOR_*`, tokens, wallet paths or proxies.
- **I/O.** stdin is /dev/null. stdout and stderr are drained concurrently and only the first
  `output_bytes` of each are kept (the rest is counted and dropped, so a chatty agent cannot fill the
  validator's memory or block on a full pipe). The return value travels on a separate pipe, capped
  at `result_bytes` (the child is killed beyond that).
- **Inputs.** The caller passes only what the agent may see (see `proctor.validator.evaluator`,
  which removes the ground truth before anything is written to the child's directory).

What this is not: a security boundary against a hostile agent running as the validator's own user.
The child can still read files that user can read and open network connections. Run validators
under a dedicated unprivileged user (as root the child could raise its own hard limits) or in a
container for that.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHILD_SCRIPT = Path(__file__).with_name("_child.py")
READ_CHUNK = 65536
MIN_MEMORY_MB = 64


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the agent's fault)."""


@dataclass(frozen=True)
class SandboxLimits:
    """Hard limits for one agent call."""

    wall_seconds: float = 300.0
    cpu_seconds: int = 300
    memory_mb: int = 1024
    output_bytes: int = 64 * 1024  # kept per stream (stdout, stderr)
    result_bytes: int = 8 * 1024 * 1024  # largest return value accepted
    file_bytes: int = 16 * 1024 * 1024  # largest file the agent may write in its directory
    open_files: int = 256

    def __post_init__(self) -> None:
        if self.wall_seconds <= 0 or self.cpu_seconds < 1:
            raise ValueError("wall_seconds must be positive and cpu_seconds at least 1")
        if self.memory_mb < MIN_MEMORY_MB:
            raise ValueError(f"memory_mb must be at least {MIN_MEMORY_MB} (the interpreter needs it)")

    def for_child(self) -> dict[str, Any]:
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_mb": self.memory_mb,
            "file_bytes": self.file_bytes,
            "open_files": self.open_files,
        }


@dataclass
class Capture:
    """The first `limit` bytes of a stream, and how many bytes it carried in all."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)

    @property
    def overflowed(self) -> bool:
        return self.total > self.limit

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", errors="replace")


# What happened, from the sandbox's point of view.
OK = "ok"  # agent_main returned a JSON value
ERROR = "error"  # agent raised, or returned something unusable
MEMORY = "memory"  # the address-space limit was hit
CPU = "cpu"  # the CPU-time limit was hit
WALL = "wall"  # the wall clock ran out
CRASH = "crash"  # the child died without a result
CANCELLED = "cancelled"  # the caller asked to stop (run timeout, lost lease)
TIMEOUT_KINDS = frozenset({CPU, WALL})


@dataclass
class SandboxResult:
    kind: str
    value: Any = None
    reason: str | None = None
    traceback: str | None = None
    returncode: int | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float | None = None
    max_rss_kb: int | None = None
    stdout: Capture = field(default_factory=lambda: Capture(0))
    stderr: Capture = field(default_factory=lambda: Capture(0))

    @property
    def ok(self) -> bool:
        return self.kind == OK

    def log(self) -> dict[str, Any]:
        """Facts for the uploaded log (never includes problem data)."""
        return {
            "sandbox_outcome": self.kind,
            "reason": self.reason,
            "returncode": self.returncode,
            "wall_seconds": round(self.wall_seconds, 3),
            "cpu_seconds": self.cpu_seconds,
            "max_rss_kb": self.max_rss_kb,
            "stdout": self.stdout.text(),
            "stdout_bytes": self.stdout.total,
            "stdout_truncated": self.stdout.truncated,
            "stderr": self.stderr.text(),
            "stderr_bytes": self.stderr.total,
            "stderr_truncated": self.stderr.truncated,
            "traceback": self.traceback,
        }


def child_environment(workdir: Path) -> dict[str, str]:
    """The child's whole environment: nothing is inherited from the validator."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
    }


def run_agent(
    agent_code: bytes,
    problem_data: dict[str, Any] | None,
    limits: SandboxLimits,
    *,
    cancel: threading.Event | None = None,
    work_root: Path | None = None,
    python: str | None = None,
) -> SandboxResult:
    """Call `agent_main(problem_data)` in a fresh child; with `problem_data=None` only load the agent."""
    workdir = Path(tempfile.mkdtemp(prefix="proctor-sandbox-", dir=work_root))
    try:
        os.chmod(workdir, 0o700)
        (workdir / "agent.py").write_bytes(agent_code)
        job = {
            "mode": "probe" if problem_data is None else "run",
            "limits": limits.for_child(),
            "problem": problem_data,
        }
        (workdir / "job.json").write_text(json.dumps(job), encoding="utf-8")
        return _supervise(workdir, limits, cancel=cancel, python=python or sys.executable)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _supervise(
    workdir: Path, limits: SandboxLimits, *, cancel: threading.Event | None, python: str
) -> SandboxResult:
    result_r, result_w = os.pipe()
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            [python, "-I", "-S", "-B", str(CHILD_SCRIPT), str(result_w)],
            cwd=workdir,
            env=child_environment(workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(result_w,),
            close_fds=True,
            start_new_session=True,
        )
    except OSError as exc:
        os.close(result_r)
        raise SandboxError(f"cannot start the sandbox interpreter {python}: {exc}") from exc
    finally:
        os.close(result_w)
    assert process.stdout is not None and process.stderr is not None
    out, err, res = Capture(limits.output_bytes), Capture(limits.output_bytes), Capture(limits.result_bytes)
    captures = {process.stdout.fileno(): out, process.stderr.fileno(): err, result_r: res}
    deadline = started + limits.wall_seconds
    stopped: str | None = None
    selector = selectors.DefaultSelector()
    try:
        for fd in captures:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and stopped is None:
            stopped = _stop_reason(deadline, cancel, res)
            if stopped:
                break
            for key, _ in selector.select(timeout=min(0.2, max(0.0, deadline - time.monotonic()))):
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, READ_CHUNK)
                except BlockingIOError:
                    continue
                if chunk:
                    captures[fd].add(chunk)
                else:
                    selector.unregister(fd)
        # Every pipe is closed (or we stopped): wait for the exit, still under the wall clock.
        while stopped is None and process.poll() is None:
            stopped = _stop_reason(deadline, cancel, res)
            if stopped is None:
                time.sleep(0.02)
    finally:
        selector.close()
        _kill_group(process.pid)
        process.wait()
        process.stdout.close()
        process.stderr.close()
        os.close(result_r)
    elapsed = time.monotonic() - started
    return _classify(process.returncode, stopped, res, out, err, limits, elapsed)


def _stop_reason(deadline: float, cancel: threading.Event | None, result: Capture) -> str | None:
    if result.overflowed:
        return "too_large"
    if cancel is not None and cancel.is_set():
        return CANCELLED
    if time.monotonic() >= deadline:
        return WALL
    return None


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _classify(
    returncode: int,
    stopped: str | None,
    res: Capture,
    out: Capture,
    err: Capture,
    limits: SandboxLimits,
    elapsed: float,
) -> SandboxResult:
    base: dict[str, Any] = {"returncode": returncode, "wall_seconds": elapsed, "stdout": out, "stderr": err}
    if stopped == WALL:
        return SandboxResult(WALL, reason=f"wall-clock limit of {limits.wall_seconds:g}s exceeded", **base)
    if stopped == CANCELLED:
        return SandboxResult(CANCELLED, reason="stopped by the validator before it finished", **base)
    if stopped == "too_large":
        return SandboxResult(ERROR, reason=f"return value larger than {limits.result_bytes} bytes", **base)
    payload = _decode(res)
    if payload is None:
        if returncode == -signal.SIGXCPU:
            return SandboxResult(CPU, reason=f"CPU time limit of {limits.cpu_seconds}s exceeded", **base)
        if returncode == -signal.SIGKILL:
            reason = "killed by SIGKILL (CPU hard limit or the system's out-of-memory killer)"
            return SandboxResult(CPU, reason=reason, **base)
        if returncode == -signal.SIGXFSZ:
            reason = f"file size limit of {limits.file_bytes} bytes exceeded"
            return SandboxResult(ERROR, reason=reason, **base)
        if returncode < 0:
            name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else returncode
            return SandboxResult(CRASH, reason=f"agent process killed by {name}", **base)
        tail = err.text().strip().splitlines()[-1:] if err.total else []
        detail = f": {tail[0][:300]}" if tail else ""
        return SandboxResult(
            CRASH, reason=f"agent process exited ({returncode}) without a result{detail}", **base
        )
    usage: dict[str, Any] = {
        "cpu_seconds": payload.get("cpu_seconds"),
        "max_rss_kb": payload.get("max_rss_kb"),
    }
    if payload.get("ok") is True:
        return SandboxResult(OK, value=payload.get("result"), **usage, **base)
    error = str(payload.get("error") or "agent failed")
    trace = payload.get("traceback")
    if payload.get("error_type") == "MemoryError":
        reason = f"memory limit of {limits.memory_mb} MB exceeded (MemoryError)"
        return SandboxResult(MEMORY, reason=reason, traceback=trace, **usage, **base)
    return SandboxResult(ERROR, reason=error, traceback=trace, **usage, **base)


def _decode(res: Capture) -> dict[str, Any] | None:
    if not res.total:
        return None
    try:
        payload = json.loads(bytes(res.data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"ok": False, "error": "the agent process wrote an unreadable result"}
    return payload if isinstance(payload, dict) else {"ok": False, "error": "unreadable result"}


def describe_limits(limits: SandboxLimits) -> dict[str, Any]:
    """The limits as plain data (for sandbox_metadata and logs)."""
    return asdict(limits)
