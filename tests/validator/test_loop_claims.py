"""How the loop answers each claim outcome, against a scripted HTTP server (real sockets, real SDK)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from proctor.validator.evaluator import SandboxEvaluator
from proctor.validator.loop import LoopConfig, ValidatorLoop
from proctor.validator.report import JsonReporter, RichReporter
from proctor.validator.sandbox import SandboxLimits
from tests.support.server import free_port
from tests.support.signing import ALICE


@dataclass
class Script:
    """Claim answers to give, in order; the last one repeats."""

    answers: list[tuple[int, dict[str, Any] | None]]
    seen: list[dict[str, str]] = field(default_factory=list)

    def next(self) -> tuple[int, dict[str, Any] | None]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def scripted() -> Iterator[tuple[str, Script]]:
    script = Script([(204, None)])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            script.seen.append({k: v for k, v in self.headers.items()})
            status, body = script.next()
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script
    server.shutdown()
    server.server_close()


class Recorder:
    def __init__(self, stop: threading.Event | None = None, *, stop_after: int | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.stop, self.stop_after = stop, stop_after

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))
        if self.stop is not None and self.stop_after is not None and len(self.events) >= self.stop_after:
            self.stop.set()

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


def make_loop(
    url: str, reporter: Any, *, stop: threading.Event | None = None, **config: Any
) -> ValidatorLoop:
    settings: dict[str, Any] = {
        "url": url,
        "once": True,
        "max_backoff": 0.01,
        "sdk_retries": 0,
        "poll_interval": 0.01,
    }
    settings.update(config)
    return ValidatorLoop(
        LoopConfig(**settings),
        ALICE,
        SandboxEvaluator(SandboxLimits(wall_seconds=5, cpu_seconds=5, memory_mb=256)),
        reporter,
        stop=stop,
    )


def test_no_work_with_once_exits_zero(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    recorder = Recorder()
    assert make_loop(url, recorder).run() == 0
    assert recorder.kinds() == ["no_work", "stopped"]
    headers = {k.lower(): v for k, v in script.seen[0].items()}
    assert headers["x-hotkey"] == ALICE.ss58_address and headers["x-signature"].startswith("0x")


def test_server_errors_and_at_capacity_back_off_then_claim_again(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers[:] = [
        (503, {"detail": "maintenance"}),
        (502, None),
        (409, {"detail": "Validator already holds an active evaluation run", "error_code": "AT_CAPACITY"}),
        (204, None),
    ]
    recorder = Recorder()
    assert make_loop(url, recorder).run() == 0
    assert recorder.kinds() == ["backoff", "backoff", "backoff", "no_work", "stopped"]
    reasons = [fields["reason"] for kind, fields in recorder.events if kind == "backoff"]
    assert reasons[0].startswith("503") and "AT_CAPACITY" in reasons[2]
    assert len(script.seen) == 4


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap() -> None:
    loop = make_loop("http://127.0.0.1:9", Recorder(), max_backoff=30.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (12, 30.0)]:
        delays = [loop.backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_a_banned_validator_gives_up_at_once_with_once(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers[:] = [(403, {"detail": {"code": "BANNED", "message": "Hotkey is banned"}})]
    recorder = Recorder()
    assert make_loop(url, recorder).run() == 1
    [(kind, fields)] = [e for e in recorder.events if e[0] == "refused"]
    assert fields["code"] == "BANNED" and fields["status"] == 403


def test_a_banned_validator_waits_the_long_back_off_when_looping(scripted: tuple[str, Script]) -> None:
    url, script = scripted
    script.answers[:] = [(403, {"detail": {"code": "BANNED", "message": "Hotkey is banned"}})]
    stop = threading.Event()
    recorder = Recorder(stop, stop_after=3)
    loop = make_loop(url, recorder, stop=stop, once=False, refused_backoff=0.05)
    assert loop.run() == 0
    assert recorder.kinds() == ["refused", "refused", "refused", "stopped"]
    assert all(fields["seconds"] == 0.05 for _, fields in recorder.events[:3])


def test_an_unreachable_server_is_retried_then_given_up_with_once() -> None:
    recorder = Recorder()
    assert make_loop(f"http://127.0.0.1:{free_port()}", recorder).run() == 1
    kinds = recorder.kinds()
    assert kinds.count("backoff") == 5 and kinds[-2:] == ["error", "stopped"]
    assert "giving up" in recorder.events[-2][1]["message"]


def test_max_runs_keeps_polling_while_there_is_no_work(scripted: tuple[str, Script]) -> None:
    url, _ = scripted
    stop = threading.Event()
    recorder = Recorder(stop, stop_after=4)
    assert make_loop(url, recorder, stop=stop, once=False, max_runs=1).run() == 0
    assert recorder.kinds()[:4] == ["no_work"] * 4


def test_json_lines_and_rich_lines_render_every_event() -> None:
    stream = io.StringIO()
    reporter = JsonReporter(stream, label="alice")
    reporter.emit(
        "problem", index=1, count=2, problem_id="p", category=None, status="SUCCESS", score=1.0, seconds=0.1
    )
    record = json.loads(stream.getvalue())
    assert record["event"] == "problem" and record["validator"] == "alice" and record["score"] == 1.0

    from rich.console import Console

    console = Console(file=io.StringIO(), width=200)
    rich = RichReporter(console, label="alice")
    samples: dict[str, dict[str, Any]] = {
        "claimed": {"eval_run_id": "r", "agent_version_id": "v", "suite_id": 1, "lease_expires_at": "t"},
        "no_work": {"poll_seconds": 1.0},
        "backoff": {"reason": "503", "seconds": 1.5},
        "refused": {"status": 403, "code": "BANNED", "message": "Hotkey is banned", "seconds": 300},
        "code": {"bytes": 10},
        "problems": {"count": 2, "hidden": ["reward"], "warning": "public view unavailable"},
        "problem": {
            "index": 1,
            "count": 2,
            "problem_id": "p",
            "category": "Shop",
            "status": "TIMED_OUT",
            "score": 0.0,
            "seconds": 1.0,
            "reason": "wall-clock limit of 1s exceeded",
        },
        "progress": {"sent": 1, "total": 2},
        "heartbeat": {"count": 1, "lease_expires_at": "t"},
        "heartbeat_error": {"status": 500, "code": None, "message": "boom"},
        "lease_lost": {"code": "LEASE_EXPIRED", "message": "gone"},
        "logs": {"uploaded": 1, "total": 2, "failed": 1},
        "completed": {
            "eval_run_id": "r",
            "status": "SUCCESS",
            "score": 0.5,
            "accepted": True,
            "became_eligible": True,
            "final_score": 0.5,
            "successes": 2,
            "required": 2,
            "seconds": 3.0,
        },
        "error": {"message": "something [odd]"},
        "stopped": {"runs": 1},
    }
    for event, fields in samples.items():
        rich.emit(event, **fields)
    rich.emit("completed", eval_run_id="r", status="FAILED", failure_reason="no agent_main", accepted=True)
    rich.emit(
        "completed", eval_run_id="r", status="SUCCESS", accepted=False, code="NOT_RUN_OWNER", message="x"
    )
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "agent ELIGIBLE, final score 0.5000" in text and "TIMED_OUT" in text and "something [odd]" in text
    lines = text.splitlines()
    # one line per event, plus the problems warning and the two extra completions
    assert len(lines) == len(samples) + 3 and all(line.startswith("alice ") for line in lines)
    rich.emit("heartbeat", count=2, lease_expires_at="t")  # only the first heartbeat is shown
    assert console.file.getvalue().splitlines() == lines  # type: ignore[attr-defined]
