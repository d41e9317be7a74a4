"""The program the sandbox child runs (see `proctor.validator.sandbox`).

It is executed by path as `python -I -S -B _child.py RESULT_FD` in a fresh working directory holding
`agent.py` and `job.json`, so it may import nothing but the standard library (no site-packages, no
PYTHON* variables, the script's own folder not on sys.path). In order it: reads and deletes the job,
applies the resource limits to itself (CPU seconds, address space, file size, open files, no core
dumps), loads the agent, calls `agent_main(problem_data)` once (or only checks that it exists, in
"probe" mode), and writes one JSON object to RESULT_FD:

    {"ok": true, "result": <agent_main's return value>, "cpu_seconds": f, "max_rss_kb": n}
    {"ok": false, "error": "Type: message", "error_type": "Type", "traceback": "...", ...}

Limits are applied here, inside the child, rather than from a `preexec_fn`: the validator runs a
heartbeat thread, and `preexec_fn` is unsafe in a multi-threaded parent.
"""

import importlib.util
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

MB = 1024 * 1024


def _apply_limits(limits: dict[str, Any]) -> None:
    cpu = max(1, int(limits["cpu_seconds"]))
    # The soft limit delivers SIGXCPU (fatal unless handled); the hard limit one second later is SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_mb"]) * MB
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    file_bytes = int(limits["file_bytes"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    files = int(limits["open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))


def _usage() -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3), "max_rss_kb": usage.ru_maxrss}


def _failure(exc: BaseException) -> dict[str, Any]:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "ok": False,
        "error_type": type(exc).__name__,
        "error": (type(exc).__name__ + ": " + str(exc))[:2000],
        "traceback": text[-4000:],
    }


def main() -> None:
    result = os.fdopen(int(sys.argv[1]), "w", encoding="utf-8")
    with open("job.json", encoding="utf-8") as handle:
        job = json.load(handle)
    os.unlink("job.json")
    _apply_limits(job["limits"])
    started = time.monotonic()
    try:
        spec = importlib.util.spec_from_file_location("agent", os.path.abspath("agent.py"))
        if spec is None or spec.loader is None:
            raise ImportError("agent.py cannot be loaded")
        module = importlib.util.module_from_spec(spec)
        sys.modules["agent"] = module
        spec.loader.exec_module(module)
        entry = getattr(module, "agent_main", None)
        if not callable(entry):
            raise TypeError("agent.py defines no callable agent_main(problem_data)")
        value = entry(job["problem"]) if job["mode"] == "run" else None
    except BaseException as exc:  # the agent may raise anything, SystemExit included
        payload = _failure(exc)
    else:
        payload = {"ok": True, "result": value}
    payload.update(_usage(), agent_seconds=round(time.monotonic() - started, 3))
    try:
        text = json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError, RecursionError, OverflowError, MemoryError) as exc:
        reason = type(exc).__name__ + ": " + str(exc)[:500]
        text = json.dumps(
            {
                "ok": False,
                "error_type": "InvalidOutput",
                "error": "agent_main returned a value that is not JSON-serializable (" + reason + ")",
                **_usage(),
            }
        )
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    result.write(text)
    result.flush()
    # Skip interpreter shutdown: atexit hooks or __del__ methods the agent left behind do not run.
    os._exit(0)


if __name__ == "__main__":
    main()
