"""The reference validator loop, speaking ORO's validator API through `oro-sdk` 1.0.78.

For each run (the call sequence of ORO's own validator, reference oro-api §7):

1. `POST /v1/validator/work/claim` — 204: no work, sleep the poll interval; 409 AT_CAPACITY, 429,
   5xx or a connection error: exponential backoff with jitter (the HTTP client is rebuilt after three
   transient failures in a row); 403 "banned" (or any 401/403): a long back-off.
2. A heartbeat thread renews the lease every `heartbeat_interval` seconds and stops for good on
   LEASE_EXPIRED, NOT_RUN_OWNER, EVAL_RUN_NOT_FOUND or RUN_ALREADY_COMPLETE; the run is then
   abandoned (its children are killed, nothing more is sent).
3. The agent code is downloaded with a plain GET of `code_download_url`.
4. `GET /v1/validator/evaluation-runs/{id}/problems`; the public suite view tells which metadata
   fields the server hides, and those (plus the ground-truth fields) are removed before the agent
   sees a problem.
5. The evaluator runs each problem; cumulative progress goes out at most every `progress_interval`
   seconds and once more, complete, before the logs.
6. Each problem's log is gzipped JSON: presign, PUT, then one progress update carrying only the
   `logs_s3_key`s. A bundle of all problem results becomes the run's `results_s3_key`.
7. `POST …/complete`: SUCCESS with `validator_score` (mean problem score), or FAILED with a
   `failure_reason` when the agent cannot be evaluated at all. RUN_ALREADY_COMPLETE, NOT_RUN_OWNER
   and EVAL_RUN_NOT_FOUND are final answers (not retried).
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bittensor_wallet import Keypair
from oro_sdk import BittensorAuthClient, Client, RetryConfig
from oro_sdk.api.public import get_suite_problems
from oro_sdk.api.validator import (
    claim_work,
    complete_run,
    get_run_problems,
    heartbeat,
    presign_upload,
    update_progress,
)
from oro_sdk.models import (
    CompleteRunRequest,
    CompleteRunRequestSandboxMetadataType0,
    CompleteRunRequestScoreComponentsType0,
    HeartbeatRequest,
    HeartbeatRequestServiceVersionsType0,
    PresignUploadRequest,
    ProblemProgressUpdate,
    ProblemProgressUpdateScoreComponentsSummaryType0,
    ProblemStatus,
    ProgressUpdateRequest,
    TerminalStatus,
)

from proctor import __version__
from proctor.validator.evaluator import (
    ALWAYS_HIDDEN,
    FAILED,
    SCORING_RULE,
    SUCCESS,
    TIMED_OUT,
    AgentUnusable,
    Evaluator,
    Problem,
    ProblemResult,
    mean_score,
)
from proctor.validator.report import Reporter

LEASE_STOP_CODES = frozenset({"LEASE_EXPIRED", "NOT_RUN_OWNER", "EVAL_RUN_NOT_FOUND", "RUN_ALREADY_COMPLETE"})
FINAL_COMPLETE_CODES = frozenset({"RUN_ALREADY_COMPLETE", "NOT_RUN_OWNER", "EVAL_RUN_NOT_FOUND"})
MAX_CODE_BYTES = 8 * 1024 * 1024
ONCE_MAX_RETRIES = 6  # with --once, give up after this many transient claim failures in a row
REBUILD_AFTER = 3  # transient failures in a row before the HTTP client is recreated


@dataclass(frozen=True)
class LoopConfig:
    url: str = "http://127.0.0.1:8000"
    once: bool = False
    max_runs: int | None = None
    poll_interval: float = 30.0
    heartbeat_interval: float = 30.0
    progress_interval: float = 10.0
    run_timeout: float = 1800.0
    workers: int = 1
    refused_backoff: float = 300.0
    max_backoff: float = 60.0
    http_timeout: float = 30.0
    sdk_retries: int = 2  # quick retries of 429/5xx inside the SDK before the loop's own back-off
    work_root: Path | None = None


@dataclass
class Answer:
    """One HTTP answer, reduced to what the loop decides on."""

    status: int  # 0: no answer (connection error)
    body: Any = None
    parsed: Any = None
    error: str | None = None

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict):
            if isinstance(self.body.get("error_code"), str):
                return str(self.body["error_code"])
            detail = self.body.get("detail")
            if isinstance(detail, dict) and isinstance(detail.get("code"), str):
                return str(detail["code"])
        return None

    @property
    def message(self) -> str:
        if self.error:
            return self.error
        if isinstance(self.body, dict):
            detail = self.body.get("detail")
            if isinstance(detail, dict):
                return str(detail.get("message") or detail)
            if detail is not None:
                return str(detail)
        return f"HTTP {self.status}"

    @property
    def transient(self) -> bool:
        return self.status == 0 or self.status == 429 or self.status >= 500


def call(fn: Any, **kwargs: Any) -> Answer:
    """Call an oro-sdk operation's `sync_detailed`; connection errors and bad bodies become Answers."""
    try:
        response = fn.sync_detailed(**kwargs)
    except httpx.HTTPError as exc:
        return Answer(0, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    except (KeyError, ValueError, TypeError) as exc:
        return Answer(0, error=f"unreadable response from the server ({type(exc).__name__}: {exc})")
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    return Answer(int(response.status_code), body=body, parsed=response.parsed)


def host_report(evaluator_name: str, work_root: Path | None) -> HeartbeatRequest:
    """What ORO validators send on claim and heartbeat: service versions and load."""
    versions = HeartbeatRequestServiceVersionsType0.from_dict(
        {
            "validator": f"proctor/{__version__}",
            "sandbox": evaluator_name,
            "python": platform.python_version(),
        }
    )
    body = HeartbeatRequest(service_versions=versions)
    try:
        body.cpu_pct = round(min(100.0, 100.0 * os.getloadavg()[0] / (os.cpu_count() or 1)), 1)
    except OSError:
        pass
    ram = _ram_pct()
    if ram is not None:
        body.ram_pct = ram
    try:
        disk = shutil.disk_usage(work_root or tempfile.gettempdir())
        body.disk_pct = round(100.0 * disk.used / disk.total, 1)
    except OSError:
        pass
    return body


def _ram_pct() -> float | None:
    try:
        info = dict(
            (line.split(":")[0], int(line.split()[1]))
            for line in Path("/proc/meminfo").read_text().splitlines()
        )
        return round(100.0 * (1 - info["MemAvailable"] / info["MemTotal"]), 1)
    except (OSError, KeyError, ValueError, IndexError, ZeroDivisionError):
        return None


class Heartbeat(threading.Thread):
    """Renews one run's lease until stopped, or until the server says the run is no longer ours."""

    def __init__(
        self,
        client: BittensorAuthClient,
        run_id: uuid.UUID,
        *,
        interval: float,
        body: Callable[[], HeartbeatRequest],
        reporter: Reporter,
    ) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.client, self.run_id, self.interval = client, run_id, interval
        self.body, self.reporter = body, reporter
        self.halt = threading.Event()
        self.lost = threading.Event()
        self.lost_code: str | None = None
        self.count = 0

    def run(self) -> None:
        while not self.halt.is_set():
            self.beat()
            if self.lost.is_set():
                return
            self.halt.wait(self.interval)

    def beat(self) -> None:
        answer = call(heartbeat, client=self.client, eval_run_id=self.run_id, body=self.body())
        if answer.status == 200:
            self.count += 1
            expires = answer.body.get("lease_expires_at") if isinstance(answer.body, dict) else None
            self.reporter.emit("heartbeat", count=self.count, lease_expires_at=expires)
        elif answer.code in LEASE_STOP_CODES:
            self.lost_code = answer.code
            self.lost.set()
            if not self.halt.is_set():
                self.reporter.emit("lease_lost", code=answer.code, message=answer.message)
        elif not self.halt.is_set():
            self.reporter.emit(
                "heartbeat_error", status=answer.status, code=answer.code, message=answer.message
            )

    def stop(self, timeout: float = 35.0) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout=timeout)
        if not self.is_alive():
            self.client.get_httpx_client().close()


class RunLost(Exception):
    """The server says the run is no longer ours: stop without completing."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


class RunFailed(Exception):
    """The agent cannot be evaluated: complete the run as FAILED with this reason."""


@dataclass
class RunOutcome:
    eval_run_id: str
    status: str  # SUCCESS | FAILED | LOST | ERROR
    recorded: bool  # the server accepted our completion
    score: float | None = None
    became_eligible: bool = False
    final_score: float | None = None
    results: list[ProblemResult] = field(default_factory=list)


class Progress:
    """Cumulative progress: every update carries all results so far (ORO's validator does the same)."""

    def __init__(self, loop: ValidatorLoop, run_id: uuid.UUID, total: int) -> None:
        self.loop, self.run_id, self.total = loop, run_id, total
        self.results: dict[str, ProblemResult] = {}
        self.sent = 0
        self.last = time.monotonic()

    def add(self, result: ProblemResult) -> None:
        self.results[result.problem_id] = result

    def flush(self, *, force: bool = False) -> None:
        """Send everything so far when there is news and the interval has passed (or `force`)."""
        if len(self.results) == self.sent:
            return
        if not force and time.monotonic() - self.last < self.loop.config.progress_interval:
            return
        updates = [progress_update(r) for r in self.results.values()]
        if not updates:
            return
        answer = self.loop.send_progress(self.run_id, updates)
        self.last = time.monotonic()
        if answer.status == 200:
            self.sent = len(self.results)
            self.loop.reporter.emit("progress", sent=self.sent, total=self.total)
        elif answer.code in LEASE_STOP_CODES:
            raise RunLost(answer.code, answer.message)
        else:
            self.loop.reporter.emit(
                "error", message=f"progress update refused: {answer.status} {answer.message}"
            )


def progress_update(result: ProblemResult) -> ProblemProgressUpdate:
    return ProblemProgressUpdate(
        problem_id=uuid.UUID(result.problem_id),
        status=ProblemStatus(result.status),
        score=result.score,
        score_components_summary=ProblemProgressUpdateScoreComponentsSummaryType0.from_dict(result.summary),
        execution_time=result.execution_time,
    )


class ValidatorLoop:
    """Claims runs and evaluates them until told to stop (or `once` / `max_runs` is reached)."""

    def __init__(
        self,
        config: LoopConfig,
        signer: Keypair,
        evaluator: Evaluator,
        reporter: Reporter,
        *,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.signer = signer
        self.evaluator = evaluator
        self.reporter = reporter
        self.stop = stop or threading.Event()
        self.client = self._new_client()
        self.public = self._new_public()
        self.runs: list[RunOutcome] = []

    def _new_public(self) -> Client:
        return Client(base_url=self.config.url, timeout=httpx.Timeout(self.config.http_timeout))

    def _new_client(self) -> BittensorAuthClient:
        # A few quick retries of 429/5xx inside the SDK; the loop's own back-off handles the rest.
        return BittensorAuthClient(
            base_url=self.config.url,
            wallet=self.signer,  # type: ignore[arg-type]  # a bare Keypair signs as itself
            timeout=httpx.Timeout(self.config.http_timeout),
            retry_config=RetryConfig(max_retries=self.config.sdk_retries, base_delay_s=0.5, max_delay_s=5.0),
        )

    # --- the outer loop --------------------------------------------------------------------------

    def run(self) -> int:
        """Exit code: 0 when every claimed run was recorded (or there was no work), else 1."""
        failures = 0
        exit_code = 0
        try:
            while not self.stop.is_set():
                if self.config.max_runs is not None and len(self.runs) >= self.config.max_runs:
                    break
                answer = call(claim_work, client=self.client, body=self._host_report())
                if answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("eval_run_id"):
                    failures = 0
                    outcome = self.evaluate_claim(answer.body)
                    self.runs.append(outcome)
                    if not outcome.recorded:
                        exit_code = 1
                    if self.config.once:
                        break
                    continue
                if answer.status == 204:
                    failures = 0
                    self.reporter.emit("no_work", poll_seconds=self.config.poll_interval)
                    if self.config.once:
                        break
                    self.stop.wait(self.config.poll_interval)
                    continue
                if answer.status in (401, 403):
                    banned = "banned" in json.dumps(answer.body).lower() if answer.body else False
                    self.reporter.emit(
                        "refused",
                        status=answer.status,
                        code=answer.code or ("BANNED" if banned else None),
                        message=answer.message,
                        seconds=0 if self.config.once else self.config.refused_backoff,
                    )
                    if self.config.once:
                        return 1
                    self.stop.wait(self.config.refused_backoff)
                    continue
                if answer.transient or answer.code == "AT_CAPACITY":
                    failures += 1
                    if self.config.once and failures >= ONCE_MAX_RETRIES:
                        self.reporter.emit("error", message=f"giving up: {self._describe(answer)}")
                        return 1
                    if failures % REBUILD_AFTER == 0:
                        self.client.get_httpx_client().close()
                        self.client = self._new_client()  # a wedged connection pool is not reused
                    delay = self.backoff(failures)
                    self.reporter.emit("backoff", reason=self._describe(answer), seconds=delay)
                    self.stop.wait(delay)
                    continue
                self.reporter.emit("error", message=f"claim refused: {self._describe(answer)}")
                if self.config.once:
                    return 1
                self.stop.wait(self.config.poll_interval)
        finally:
            self.reporter.emit("stopped", runs=len(self.runs))
            self.close()
        return exit_code

    def close(self) -> None:
        """Drop idle keep-alive connections (a server shutting down waits for them)."""
        self.client.get_httpx_client().close()
        self.public.get_httpx_client().close()
        self.client = self._new_client()  # usable again (its connections open lazily)
        self.public = self._new_public()

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with jitter: 1, 2, 4 … seconds (capped), each scaled by 0.5–1.0."""
        ceiling = min(self.config.max_backoff, 2.0 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)

    @staticmethod
    def _describe(answer: Answer) -> str:
        if answer.status == 0:
            return answer.message
        return f"{answer.status} {answer.code or ''} {answer.message}".replace("  ", " ").strip()

    def _host_report(self) -> HeartbeatRequest:
        return host_report(self.evaluator.name, self.config.work_root)

    # --- one run ----------------------------------------------------------------------------------

    def evaluate_claim(self, claim: dict[str, Any]) -> RunOutcome:
        run_id = uuid.UUID(str(claim["eval_run_id"]))
        started = time.monotonic()
        self.reporter.emit(
            "claimed",
            eval_run_id=str(run_id),
            agent_version_id=claim.get("agent_version_id"),
            suite_id=claim.get("suite_id"),
            lease_expires_at=claim.get("lease_expires_at"),
        )
        beat = Heartbeat(
            self._new_client(),
            run_id,
            interval=self.config.heartbeat_interval,
            body=self._host_report,
            reporter=self.reporter,
        )
        beat.start()
        cancel = threading.Event()
        try:
            try:
                code = self._download(str(claim.get("code_download_url") or ""))
                problems = self._problems(run_id, int(claim.get("suite_id") or 0))
                try:
                    self.evaluator.prepare(code)
                except AgentUnusable as exc:
                    raise RunFailed(str(exc)) from None
                except Exception as exc:  # a plug-in evaluator's own failure, before any problem ran
                    raise RunFailed(f"evaluator could not start: {type(exc).__name__}: {exc}") from None
                if beat.lost.is_set():
                    raise RunLost(beat.lost_code, "the server no longer holds this run for us")
                results = self._evaluate_all(code, problems, beat, cancel)
            except RunFailed as exc:
                beat.stop(self.config.http_timeout + 5)  # quiet before completing: no beat after it
                return self._complete_failed(run_id, str(exc), beat, started)
            bundle_key = self._report(run_id, results)
            beat.stop(self.config.http_timeout + 5)
            return self._complete_success(run_id, results, bundle_key, beat, started)
        except RunLost as exc:
            cancel.set()
            if self.stop.is_set():
                self.reporter.emit("error", message="stopped before the run finished; its lease will lapse")
            elif not beat.lost.is_set():  # the heartbeat thread already said so
                self.reporter.emit("lease_lost", code=exc.code, message=str(exc))
            return RunOutcome(str(run_id), "LOST", recorded=False)
        finally:
            cancel.set()
            beat.stop(self.config.http_timeout + 5)

    def _download(self, url: str) -> bytes:
        if not url:
            raise RunFailed("the claim carried no code_download_url")
        last = ""
        for attempt in range(1, 4):
            try:
                with httpx.stream("GET", url, timeout=self.config.http_timeout, follow_redirects=True) as r:
                    if r.status_code == 200:
                        data = bytearray()
                        for chunk in r.iter_bytes():
                            data += chunk
                            if len(data) > MAX_CODE_BYTES:
                                raise RunFailed(f"agent code is larger than {MAX_CODE_BYTES} bytes")
                        self.reporter.emit("code", bytes=len(data))
                        return bytes(data)
                    last = f"HTTP {r.status_code}"
                    if r.status_code < 500:
                        break
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            self.stop.wait(self.backoff(attempt))
        raise RunFailed(f"could not download the agent code: {last}")

    def _problems(self, run_id: uuid.UUID, suite_id: int) -> list[Problem]:
        answer = Answer(0)
        for attempt in range(1, 4):
            answer = call(get_run_problems, client=self.client, eval_run_id=run_id)
            if answer.status == 200 or not answer.transient:
                break
            self.stop.wait(self.backoff(attempt))
        if answer.code in LEASE_STOP_CODES:
            raise RunLost(answer.code, answer.message)
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise RunFailed(f"could not fetch the run's problems: {self._describe(answer)}")
        raw = [p for p in answer.body.get("problems") or [] if isinstance(p, dict)]
        if not raw:
            raise RunFailed("the run has no problems to evaluate")
        public, warning = self._public_metadata(suite_id)
        # A problem the public view does not list is a race-only problem (the hidden bank): the agent
        # sees the keys the suite shows publicly, nothing else.
        shown_anywhere = set().union(*public.values()) if public else set()
        problems: list[Problem] = []
        hidden_union: set[str] = set(ALWAYS_HIDDEN)
        for item in raw:
            pid = str(item["problem_id"])
            metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            assert isinstance(metadata, dict)
            hidden = set(ALWAYS_HIDDEN)
            if public is not None:
                # Whatever the public suite view leaves out of this problem, the agent does not see.
                visible = public.get(pid)
                hidden |= set(metadata) - set(visible if visible is not None else shown_anywhere)
            hidden_union |= hidden & set(metadata)
            problems.append(Problem(pid, metadata, frozenset(hidden)))
        shown = sorted(hidden_union & {k for p in problems for k in p.metadata})
        self.reporter.emit("problems", count=len(problems), hidden=shown, warning=warning)
        return problems

    def _public_metadata(self, suite_id: int) -> tuple[dict[str, set[str]] | None, str | None]:
        answer = call(get_suite_problems, client=self.public, suite_id=suite_id)
        if answer.status != 200 or not isinstance(answer.body, dict):
            return None, (
                f"public suite view unavailable ({self._describe(answer)}); "
                "only the standard ground-truth fields are removed"
            )
        view: dict[str, set[str]] = {}
        for item in answer.body.get("problems") or []:
            if isinstance(item, dict):
                meta = item.get("metadata")
                view[str(item.get("problem_id"))] = set(meta) if isinstance(meta, dict) else set()
        return view, None

    def _evaluate_all(
        self, code: bytes, problems: list[Problem], beat: Heartbeat, cancel: threading.Event
    ) -> list[ProblemResult]:
        total = len(problems)
        deadline = time.monotonic() + self.config.run_timeout
        progress = Progress(self, beat.run_id, total)
        results: dict[str, ProblemResult] = {}
        run_timed_out = False
        with ThreadPoolExecutor(
            max_workers=max(1, self.config.workers), thread_name_prefix="problem"
        ) as pool:
            pending: dict[Future[ProblemResult], Problem] = {
                pool.submit(self.evaluator.evaluate, code, p, cancel=cancel): p for p in problems
            }
            try:
                while pending:
                    done, _ = wait(list(pending), timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in done:
                        problem = pending.pop(future)
                        if future.cancelled():
                            continue
                        error = future.exception()
                        if error is not None:
                            raise RunFailed(f"evaluator error on problem {problem.problem_id}: {error}")
                        result = future.result()
                        if result.log.get("sandbox_outcome") == "cancelled":
                            continue
                        results[problem.problem_id] = result
                        progress.add(result)
                        self.reporter.emit(
                            "problem",
                            index=len(results),
                            count=total,
                            problem_id=result.problem_id,
                            category=problem.category,
                            status=result.status,
                            score=result.score,
                            seconds=result.execution_time,
                            reason=result.reason,
                        )
                    if beat.lost.is_set():
                        raise RunLost(beat.lost_code, "the server no longer holds this run for us")
                    if self.stop.is_set():
                        raise RunLost(None, "the validator is stopping")
                    if time.monotonic() > deadline and not run_timed_out:
                        run_timed_out = True
                        cancel.set()
                        for future in pending:
                            future.cancel()
                    progress.flush()
            finally:
                if pending:
                    cancel.set()
                    for future in pending:
                        future.cancel()
        ordered: list[ProblemResult] = []
        for problem in problems:
            found = results.get(problem.problem_id)
            if found is None:
                found = ProblemResult(
                    problem.problem_id,
                    TIMED_OUT,
                    0.0,
                    0.0,
                    reason=f"run timeout of {self.config.run_timeout:g}s reached before it finished",
                    summary={"rule": SCORING_RULE, "category": problem.category},
                )
                found.summary["reason"] = found.reason
                found.log = {
                    "problem_id": problem.problem_id,
                    "status": TIMED_OUT,
                    "score": 0.0,
                    "reason": found.reason,
                }
                progress.add(found)
            ordered.append(found)
        progress.flush(force=True)  # everything, before logs and completion (ORO-669)
        return ordered

    def send_progress(self, run_id: uuid.UUID, updates: list[ProblemProgressUpdate]) -> Answer:
        return call(
            update_progress, client=self.client, eval_run_id=run_id, body=ProgressUpdateRequest(updates)
        )

    # --- logs and completion ------------------------------------------------------------------------

    def _report(self, run_id: uuid.UUID, results: list[ProblemResult]) -> str | None:
        """Upload one gzip log per problem, record the keys, upload the bundle; returns the bundle key."""
        keys: dict[str, str] = {}
        failed = 0
        for result in results:
            key = self._upload(run_id, result.problem_id, result.log)
            if key is None:
                failed += 1
            else:
                keys[result.problem_id] = key
        self.reporter.emit("logs", uploaded=len(keys), total=len(results), failed=failed)
        if keys:
            updates = []
            by_id = {r.problem_id: r for r in results}
            for pid, key in keys.items():
                update = ProblemProgressUpdate(
                    problem_id=uuid.UUID(pid), status=ProblemStatus(by_id[pid].status)
                )
                update["logs_s3_key"] = key
                updates.append(update)
            answer = self.send_progress(run_id, updates)
            if answer.code in LEASE_STOP_CODES:
                raise RunLost(answer.code, answer.message)
            if answer.status != 200:
                self.reporter.emit("error", message=f"log keys not recorded: {self._describe(answer)}")
        bundle = {
            "eval_run_id": str(run_id),
            "scoring_rule": SCORING_RULE,
            "evaluator": self.evaluator.name,
            "problems": [
                {
                    "problem_id": r.problem_id,
                    "status": r.status,
                    "score": r.score,
                    "execution_time": r.execution_time,
                    "reason": r.reason,
                    "summary": r.summary,
                    "logs_s3_key": keys.get(r.problem_id),
                }
                for r in results
            ],
        }
        return self._upload(run_id, results[0].problem_id, bundle) if results else None

    def _upload(self, run_id: uuid.UUID, problem_id: str, document: dict[str, Any]) -> str | None:
        data = gzip.compress(json.dumps(document, default=str).encode())
        body = PresignUploadRequest(
            content_length=len(data),
            eval_run_id=run_id,
            problem_id=uuid.UUID(problem_id),
            content_type="application/gzip",
        )
        answer = call(presign_upload, client=self.client, body=body)
        if answer.code in LEASE_STOP_CODES:
            raise RunLost(answer.code, answer.message)
        if answer.status != 200 or not isinstance(answer.body, dict):
            self.reporter.emit("error", message=f"presign refused: {self._describe(answer)}")
            return None
        headers = {str(k): str(v) for k, v in (answer.body.get("headers") or {}).items()}
        headers["Content-Type"] = "application/gzip"
        headers.pop("Content-Length", None)  # httpx sets it from the body
        method = str(answer.body.get("method") or "PUT").upper()
        try:
            put = httpx.request(
                method,
                str(answer.body["upload_url"]),
                content=data,
                headers=headers,
                timeout=self.config.http_timeout,
            )
        except httpx.HTTPError as exc:
            self.reporter.emit("error", message=f"log upload failed: {exc}")
            return None
        if put.status_code >= 300:
            self.reporter.emit(
                "error", message=f"log upload refused: HTTP {put.status_code} {put.text[:200]}"
            )
            return None
        return str(answer.body["results_s3_key"])

    def _complete_success(
        self,
        run_id: uuid.UUID,
        results: list[ProblemResult],
        bundle_key: str | None,
        beat: Heartbeat,
        started: float,
    ) -> RunOutcome:
        total = len(results)
        score = mean_score((r.score for r in results), total)
        counts = {s: sum(1 for r in results if r.status == s) for s in (SUCCESS, FAILED, TIMED_OUT)}
        components = {
            "scoring_rule": SCORING_RULE,
            "ground_truth_rate": score,
            "success_rate": round(counts[SUCCESS] / total, 4) if total else 0.0,
            "total_problems": total,
            "successful_problems": counts[SUCCESS],
            "failed_problems": counts[FAILED],
            "timed_out_problems": counts[TIMED_OUT],
            "scored_problems": sum(1 for r in results if r.score > 0),
        }
        body = CompleteRunRequest(
            terminal_status=TerminalStatus.SUCCESS,
            validator_score=score,
            score_components=CompleteRunRequestScoreComponentsType0.from_dict(components),
            sandbox_metadata=CompleteRunRequestSandboxMetadataType0.from_dict(
                self._sandbox_metadata(beat, started)
            ),
        )
        if bundle_key:
            body["results_s3_key"] = bundle_key
        outcome = self._complete(run_id, body, started, score=score)
        outcome.results = results
        return outcome

    def _complete_failed(self, run_id: uuid.UUID, reason: str, beat: Heartbeat, started: float) -> RunOutcome:
        body = CompleteRunRequest(
            terminal_status=TerminalStatus.FAILED,
            failure_reason=reason[:9000],
            sandbox_metadata=CompleteRunRequestSandboxMetadataType0.from_dict(
                self._sandbox_metadata(beat, started)
            ),
        )
        return self._complete(run_id, body, started, score=None)

    def _sandbox_metadata(self, beat: Heartbeat, started: float) -> dict[str, Any]:
        limits = getattr(self.evaluator, "limits", None)
        meta: dict[str, Any] = {
            "evaluator": self.evaluator.name,
            "validator": f"proctor/{__version__}",
            "python": platform.python_version(),
            "duration_seconds": round(time.monotonic() - started, 3),
            "workers": self.config.workers,
        }
        if limits is not None:
            meta["limits"] = {k: getattr(limits, k) for k in ("wall_seconds", "cpu_seconds", "memory_mb")}
        meta["heartbeats"] = beat.count
        return meta

    def _complete(
        self, run_id: uuid.UUID, body: CompleteRunRequest, started: float, *, score: float | None
    ) -> RunOutcome:
        status = body.terminal_status.value
        answer = Answer(0)
        for attempt in range(1, 5):
            answer = call(complete_run, client=self.client, eval_run_id=run_id, body=body)
            if answer.status == 200 or not answer.transient:
                break
            self.stop.wait(self.backoff(attempt))
        seconds = round(time.monotonic() - started, 3)
        failure_reason = body.failure_reason if isinstance(body.failure_reason, str) else None
        if answer.status == 200 and isinstance(answer.body, dict):
            item = answer.body.get("work_item") or {}
            outcome = RunOutcome(
                str(run_id),
                status,
                recorded=True,
                score=score,
                became_eligible=bool(answer.body.get("agent_version_became_eligible")),
                final_score=answer.body.get("final_score"),
            )
            self.reporter.emit(
                "completed",
                eval_run_id=str(run_id),
                status=status,
                score=score,
                failure_reason=failure_reason,
                accepted=True,
                became_eligible=outcome.became_eligible,
                final_score=outcome.final_score,
                successes=item.get("included_success_count"),
                required=item.get("required_successes"),
                seconds=seconds,
            )
            return outcome
        final = answer.code in FINAL_COMPLETE_CODES
        self.reporter.emit(
            "completed",
            eval_run_id=str(run_id),
            status=status,
            score=score,
            failure_reason=failure_reason,
            accepted=False,
            final=final,
            code=answer.code,
            message=answer.message,
            seconds=seconds,
        )
        return RunOutcome(str(run_id), status if final else "ERROR", recorded=False, score=score)
