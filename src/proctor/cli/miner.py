"""`proctor miner …`: submit an agent (or dry-run it with --check) and see how your agents are doing.

Submissions go through `oro-sdk` 1.0.78 (`miner.submit_agent`), with the SDK's automatic retries
turned off: a refused submission (cooldown, rate limit) must answer at once, and a retried submit can
trip the per-hotkey limiter (ORO-1337). `--check` posts the same multipart body to proctor's
`/v1/miner/check` with signed headers (the SDK has no function for that extension).
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from bittensor_wallet import Keypair
from oro_sdk import BittensorAuthClient, RetryConfig, generate_auth_headers
from oro_sdk.api.miner import get_owned_agent_version_status, list_miner_agents, submit_agent
from oro_sdk.models import BodySubmitAgent
from oro_sdk.types import File
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from proctor.cli.common import console, err_console
from proctor.cli.keys import (
    DEFAULT_URL,
    DEFAULT_WALLET_PATH,
    UriOption,
    UrlOption,
    WalletHotkeyOption,
    WalletNameOption,
    WalletPathOption,
    signer_or_exit,
)

app = typer.Typer(help="Miner side: submit agents and follow their evaluation.", no_args_is_help=True)

SUBMIT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
AGENT_MIME = "text/x-python"


@dataclass
class Reply:
    """An HTTP answer from the server (status 0: none, with `error` saying why)."""

    status: int
    body: Any = None
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return (
            self.status == 200
            and isinstance(self.body, dict)
            and self.body.get("admission_status") == "ACCEPTED"
        )

    @property
    def code(self) -> str | None:
        if not isinstance(self.body, dict):
            return None
        if isinstance(self.body.get("error_code"), str):
            return str(self.body["error_code"])
        detail = self.body.get("detail")
        if isinstance(detail, dict) and isinstance(detail.get("code"), str):
            return str(detail["code"])
        reason = self.body.get("admission_reason")
        return str(reason) if reason else None

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
            if self.body.get("message"):
                return str(self.body["message"])
        return f"HTTP {self.status}"


def _reply(status: int, content: bytes) -> Reply:
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = {"detail": content[:500].decode("utf-8", errors="replace")}
    return Reply(status, body)


def signed_client(url: str, signer: Keypair, *, retries: int = 0) -> BittensorAuthClient:
    return BittensorAuthClient(
        base_url=url.rstrip("/"),
        wallet=signer,  # type: ignore[arg-type]  # a bare Keypair signs as itself
        timeout=SUBMIT_TIMEOUT,
        retry_config=RetryConfig(max_retries=retries, base_delay_s=0.5, max_delay_s=5.0),
    )


def _sdk_call(url: str, signer: Keypair, operation: Any, *, retries: int, **kwargs: Any) -> Reply:
    """Call an oro-sdk operation with a signing client; no answer or an unreadable one becomes a Reply."""
    client = signed_client(url, signer, retries=retries)
    try:
        response = operation.sync_detailed(client=client, **kwargs)
    except httpx.HTTPError as exc:
        return Reply(0, error=f"cannot reach {url}: {type(exc).__name__}: {exc}")
    except (KeyError, ValueError, TypeError) as exc:
        return Reply(0, error=f"unreadable answer from {url}: {exc}")
    finally:
        client.get_httpx_client().close()
    return _reply(int(response.status_code), response.content)


def submit(url: str, signer: Keypair, content: bytes, *, name: str, filename: str) -> Reply:
    """`POST /v1/miner/submit` through the SDK (no retries)."""
    body = BodySubmitAgent(
        agent_name=name, file=File(payload=io.BytesIO(content), file_name=filename, mime_type=AGENT_MIME)
    )
    return _sdk_call(url, signer, submit_agent, retries=0, body=body)


def check(url: str, signer: Keypair, content: bytes, *, name: str, filename: str) -> Reply:
    """`POST /v1/miner/check`: the same body and gates as submit, nothing stored, no cooldown spent."""
    files = {"agent_name": (None, name.encode(), "text/plain"), "file": (filename, content, AGENT_MIME)}
    try:
        response = httpx.post(
            url.rstrip("/") + "/v1/miner/check",
            files=files,
            headers=generate_auth_headers(signer),  # type: ignore[arg-type]
            timeout=SUBMIT_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        return Reply(0, error=f"cannot reach {url}: {type(exc).__name__}: {exc}")
    return _reply(response.status_code, response.content)


def agents(url: str, signer: Keypair) -> Reply:
    """`GET /v1/miner/agents` (the miner's agents, latest versions, cooldown)."""
    return _sdk_call(url, signer, list_miner_agents, retries=2)


def version_status(url: str, signer: Keypair, version_id: str) -> Reply:
    """`GET /v1/miner/agent-versions/{id}` (live counters of one owned version)."""
    return _sdk_call(
        url, signer, get_owned_agent_version_status, retries=2, agent_version_id=uuid.UUID(version_id)
    )


# --- rendering ---------------------------------------------------------------------------------------


def _when(value: Any) -> str:
    """An ISO timestamp with how far away it is."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    seconds = int((moment - datetime.now(UTC)).total_seconds())
    if seconds <= 0:
        return str(value)
    hours, rest = divmod(seconds, 3600)
    return (
        f"{value} (in {hours}h {rest // 60:02d}m)"
        if hours
        else f"{value} (in {rest // 60}m {rest % 60:02d}s)"
    )


def violation_lines(violations: Any) -> list[str]:
    """Each violation as `line: rule — message` (the ORO CLI prints the same three keys)."""
    lines = []
    for item in violations or []:
        if isinstance(item, dict):
            lines.append(f"{item.get('line', '?')}: {item.get('rule', '?')} — {item.get('message', '')}")
    return lines


def print_verdict(reply: Reply, out: Console, *, dry_run: bool) -> None:
    body = reply.body if isinstance(reply.body, dict) else {}
    if reply.status == 0:
        out.print(f"[red]✗ no answer:[/red] {escape(reply.message)}")
        return
    label = "would be ACCEPTED" if dry_run else "ACCEPTED"
    if reply.accepted:
        out.print(f"[bold green]✓ {label}[/bold green]  {escape(str(body.get('message') or ''))}")
    else:
        where = f"{reply.status} {reply.code or ''}".strip()
        verb = "would be REJECTED" if dry_run else "REJECTED"
        out.print(f"[bold red]✗ {verb}[/bold red] ({escape(where)}): {escape(reply.message)}")
    for key in ("hotkey", "agent_id", "agent_version_id", "admission_reason"):
        if body.get(key):
            out.print(f"  {key:<17} {escape(str(body[key]))}")
    if body.get("next_allowed_at"):
        out.print(f"  {'next_allowed_at':<17} {escape(_when(body['next_allowed_at']))}")
    if body.get("remaining_seconds") is not None:
        out.print(f"  {'remaining_seconds':<17} {body['remaining_seconds']}")
    lines = violation_lines(body.get("violations"))
    if lines:
        out.print("  violations:")
        for line in lines:
            out.print(f"    {escape(line)}", soft_wrap=True, highlight=False)
    checks = body.get("checks")
    if dry_run and isinstance(checks, list):
        table = Table("gate", "outcome", "code", "message", title="checks", title_justify="left")
        for c in checks:
            if isinstance(c, dict):
                outcome = str(c.get("outcome", ""))
                style = {"passed": "green", "rejected": "red"}.get(outcome, "dim")
                table.add_row(
                    str(c.get("gate", "")),
                    f"[{style}]{outcome}[/{style}]",
                    escape(str(c.get("code") or "")),
                    escape(str(c.get("message") or "")),
                )
        out.print(table)
    flags = violation_lines(body.get("flags"))
    if flags:
        out.print("  flags (informational, kept for review):")
        for line in flags:
            out.print(f"    {escape(line)}", soft_wrap=True, highlight=False)


# --- commands ---------------------------------------------------------------------------------------


@app.command("submit")
def submit_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Agent .py file.")],
    name: Annotated[str, typer.Option("--name", help="Agent name (same name: a new version).")],
    check_only: Annotated[
        bool, typer.Option("--check", help="Dry run: run every gate, store nothing, spend no cooldown.")
    ] = False,
    url: UrlOption = DEFAULT_URL,
    uri: UriOption = None,
    wallet_name: WalletNameOption = None,
    wallet_hotkey: WalletHotkeyOption = "default",
    wallet_path: WalletPathOption = DEFAULT_WALLET_PATH,
    json_output: Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON.")] = False,
) -> None:
    """Submit an agent file (exit 0 when accepted, 1 when refused)."""
    signer = signer_or_exit(
        uri=uri, wallet_name=wallet_name, wallet_hotkey=wallet_hotkey, wallet_path=wallet_path
    )
    content = file.read_bytes()
    action = check if check_only else submit
    reply = action(url, signer, content, name=name, filename=file.name)
    if json_output:
        console.print_json(json.dumps({"status": reply.status, "body": reply.body, "error": reply.error}))
    else:
        print_verdict(reply, console, dry_run=check_only)
    raise typer.Exit(0 if reply.accepted else 1)


@app.command("status")
def status_command(
    url: UrlOption = DEFAULT_URL,
    uri: UriOption = None,
    wallet_name: WalletNameOption = None,
    wallet_hotkey: WalletHotkeyOption = "default",
    wallet_path: WalletPathOption = DEFAULT_WALLET_PATH,
    json_output: Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON.")] = False,
) -> None:
    """Your agents, their latest versions, states, scores and evaluation counts, and the cooldown."""
    signer = signer_or_exit(
        uri=uri, wallet_name=wallet_name, wallet_hotkey=wallet_hotkey, wallet_path=wallet_path
    )
    reply = agents(url, signer)
    if reply.status != 200 or not isinstance(reply.body, dict):
        err_console.print(
            f"[red]✗ {reply.status or 'no answer'} {escape(reply.code or '')}:[/red] {reply.message}"
        )
        raise typer.Exit(1)
    body = reply.body
    live: dict[str, Any] = {}
    for agent in body.get("agents") or []:
        latest = agent.get("latest_version") or {}
        if latest.get("agent_version_id"):
            counters = version_status(url, signer, str(latest["agent_version_id"]))
            if counters.status == 200 and isinstance(counters.body, dict):
                live[str(latest["agent_version_id"])] = counters.body
    if json_output:
        console.print_json(json.dumps({**body, "version_status": live}))
        raise typer.Exit(0)
    console.print(f"miner {signer.ss58_address} at {url}")
    table = Table("agent", "version", "state", "final score", "evaluations", "submitted", "agent_version_id")
    for agent in body.get("agents") or []:
        latest = agent.get("latest_version") or {}
        vid = str(latest.get("agent_version_id") or "")
        counters = live.get(vid, {})
        evaluations = (
            f"{counters.get('success_count', 0)}/{counters.get('required_successes', '?')}"
            + (f" (+{counters['active_count']} running)" if counters.get("active_count") else "")
            if counters
            else "—"
        )
        score = latest.get("final_score")
        table.add_row(
            escape(str(agent.get("agent_name"))),
            f"v{latest['version_number']}" if latest.get("version_number") else "—",
            str(latest.get("state") or "—"),
            "—" if score is None else f"{float(score):.4f}",
            evaluations,
            str(latest.get("submitted_at") or "—")[:19],
            vid or "—",
        )
    if body.get("agents"):
        console.print(table)
    else:
        console.print("no agents yet")
    if body.get("can_submit"):
        console.print("[green]can_submit: yes[/green]")
    else:
        console.print(
            f"[yellow]can_submit: no[/yellow]  next_allowed_at {escape(_when(body.get('next_allowed_at')))}"
        )
