"""Progress output of the validator loop: Rich lines for a person, JSON lines for machines.

The loop calls `reporter.emit(event, **fields)`; events and their fields:

    claimed        eval_run_id, agent_version_id, suite_id, lease_expires_at
    no_work        poll_seconds
    backoff        reason, seconds
    refused        status, code, message, seconds (banned / not a validator / bad signature)
    code           bytes
    problems       count, hidden (fields removed from what the agent sees), warning?
    problem        index, count, problem_id, category, status, score, seconds, reason?
    progress       sent, total
    heartbeat      count, lease_expires_at
    heartbeat_error status, code, message
    lease_lost     code, message
    logs           uploaded, total, failed
    completed      eval_run_id, status, score?, failure_reason?, accepted, final?, code?, message?,
                   became_eligible?, successes?, required?, final_score?, seconds
    error          message
    stopped        runs
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.markup import escape


class Reporter(Protocol):
    def emit(self, event: str, **fields: Any) -> None: ...


class JsonReporter:
    """One JSON object per line on stdout: {"ts", "event", "validator", ...fields}."""

    def __init__(self, stream: TextIO | None = None, *, label: str | None = None) -> None:
        self.stream = stream or sys.stdout
        self.label = label
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        if self.label:
            record["validator"] = self.label
        record.update(fields)
        line = json.dumps(record, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _short(value: Any) -> str:
    text = str(value)
    return text[:8] + "…" if len(text) > 12 else text


def _score(value: Any) -> str:
    return "—" if value is None else f"{float(value):.4f}"


STATUS_STYLE = {"SUCCESS": "green", "FAILED": "red", "TIMED_OUT": "yellow"}


class RichReporter:
    """Short human lines: what run, which problem, scores and timings."""

    def __init__(self, console: Console | None = None, *, label: str | None = None) -> None:
        self.console = console or Console()
        self.prefix = f"[bold cyan]{escape(label)}[/bold cyan] " if label else ""

    def _print(self, text: str) -> None:
        self.console.print(self.prefix + text, highlight=False, soft_wrap=True)

    def emit(self, event: str, **f: Any) -> None:
        handler = getattr(self, f"_on_{event}", None)
        if handler is not None:
            handler(f)
        else:
            details = "  ".join(f"{k}={escape(str(v))}" for k, v in f.items())
            self._print(f"[dim]{escape(event)}[/dim] {details}")

    def _on_claimed(self, f: dict[str, Any]) -> None:
        self._print(
            f"[bold]● claimed run {f['eval_run_id']}[/bold]  agent version {_short(f['agent_version_id'])}"
            f"  suite {f['suite_id']}  lease until {f['lease_expires_at']}"
        )

    def _on_no_work(self, f: dict[str, Any]) -> None:
        self._print(f"[dim]no work available; next claim in {f['poll_seconds']:g}s[/dim]")

    def _on_backoff(self, f: dict[str, Any]) -> None:
        self._print(f"[yellow]↻ {escape(str(f['reason']))}; retrying in {f['seconds']:.1f}s[/yellow]")

    def _on_refused(self, f: dict[str, Any]) -> None:
        wait = f" — waiting {f['seconds']:g}s" if f.get("seconds") else ""
        self._print(
            f"[red]✗ server refused this validator ({f['status']} {escape(str(f.get('code')))}): "
            f"{escape(str(f.get('message')))}{wait}[/red]"
        )

    def _on_code(self, f: dict[str, Any]) -> None:
        self._print(f"  ↓ agent code {f['bytes']} bytes")

    def _on_problems(self, f: dict[str, Any]) -> None:
        hidden = ", ".join(f["hidden"]) or "none"
        self._print(f"  {f['count']} problems; hidden from the agent: {escape(hidden)}")
        if f.get("warning"):
            self._print(f"  [yellow]! {escape(str(f['warning']))}[/yellow]")

    def _on_problem(self, f: dict[str, Any]) -> None:
        style = STATUS_STYLE.get(f["status"], "white")
        reason = f"  [dim]{escape(str(f['reason']))}[/dim]" if f.get("reason") else ""
        category = escape(str(f.get("category") or "-"))
        self._print(
            f"  [{f['index']}/{f['count']}] {category:<8} {_short(f['problem_id'])}  "
            f"[{style}]{f['status']:<9}[/{style}] {f['score']:.2f}  {f['seconds']:.2f}s{reason}"
        )

    def _on_progress(self, f: dict[str, Any]) -> None:
        self._print(f"  [dim]↑ progress {f['sent']}/{f['total']}[/dim]")

    def _on_heartbeat(self, f: dict[str, Any]) -> None:
        if f["count"] == 1:
            self._print(f"  [dim]♥ heartbeat; lease until {f['lease_expires_at']}[/dim]")

    def _on_heartbeat_error(self, f: dict[str, Any]) -> None:
        self._print(
            f"  [yellow]♥ heartbeat failed ({f['status']} {f.get('code')}): {escape(str(f.get('message')))}"
        )

    def _on_lease_lost(self, f: dict[str, Any]) -> None:
        self._print(f"[red]✗ lease lost ({f['code']}): {escape(str(f['message']))}; abandoning the run[/red]")

    def _on_logs(self, f: dict[str, Any]) -> None:
        failed = f" ({f['failed']} failed)" if f.get("failed") else ""
        self._print(f"  ↑ logs uploaded {f['uploaded']}/{f['total']}{failed}")

    def _on_completed(self, f: dict[str, Any]) -> None:
        took = f"  {f['seconds']:.1f}s" if f.get("seconds") is not None else ""
        if not f.get("accepted"):
            self._print(
                f"[yellow]■ run {f['eval_run_id']} not recorded ({f.get('code')}): "
                f"{escape(str(f.get('message')))}[/yellow]{took}"
            )
            return
        if f["status"] == "SUCCESS":
            tail = ""
            if f.get("successes") is not None:
                tail = f"  evaluations {f['successes']}/{f['required']}"
            if f.get("became_eligible"):
                tail += (
                    f"  [bold green]agent ELIGIBLE, final score {_score(f.get('final_score'))}[/bold green]"
                )
            self._print(
                f"[green]✓ completed run {f['eval_run_id']}[/green]  score {_score(f['score'])}{tail}{took}"
            )
        else:
            self._print(
                f"[red]✓ completed run {f['eval_run_id']} as {f['status']}[/red]: "
                f"{escape(str(f.get('failure_reason')))}{took}"
            )

    def _on_error(self, f: dict[str, Any]) -> None:
        self._print(f"[red]error:[/red] {escape(str(f['message']))}")

    def _on_stopped(self, f: dict[str, Any]) -> None:
        self._print(f"[dim]validator stopped after {f['runs']} run(s)[/dim]")
