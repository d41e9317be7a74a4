"""`proctor bitrecs …`: a Bitrecs miner's check and submit, signed as Bitrecs' CLI signs them; and the
operator's `proctor admin submissions …` switch and `proctor admin bitrecs-keys …` read-API keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer

from proctor.cli.common import cli_actor, console, err_console, ok, settings_from, with_core
from proctor.cli.keys import (
    DEFAULT_URL,
    UriOption,
    UrlOption,
    WalletHotkeyOption,
    WalletNameOption,
    WalletPathOption,
    signer_or_exit,
)
from proctor.storage.base import utcnow

app = typer.Typer(help="Bitrecs miner: check or submit a gist-hosted agent.", no_args_is_help=True)
submissions_app = typer.Typer(
    help="Pause, resume or show submissions (the system flag Bitrecs' /check and /submit obey).",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="Bitrecs read-API keys (X-API-Key).", no_args_is_help=True)
T = TypeVar("T")

GistOption = Annotated[str, typer.Option("--gist", help="The gist id holding the agent YAML.")]
AccountOption = Annotated[str, typer.Option("--account", help="The GitHub account owning the gist.")]
GithubOption = Annotated[
    str | None, typer.Option("--github-api-url", help="GitHub's API (default: PROCTOR_GITHUB_API_URL).")
]


def _send(
    ctx: typer.Context,
    submit: bool,
    gist: str,
    account: str,
    url: str,
    github_api_url: str | None,
    uri: str | None,
    wallet_name: str | None,
    wallet_hotkey: str,
    wallet_path: Path | None,
) -> None:
    from proctor.surfaces.bitrecs.client import BitrecsClient

    settings = settings_from(ctx)
    signer = signer_or_exit(
        uri=uri, wallet_name=wallet_name, wallet_hotkey=wallet_hotkey, wallet_path=wallet_path
    )
    client = BitrecsClient(
        url, github_api_url=github_api_url or settings.github_api_url, version=settings.bitrecs_version
    )
    try:
        body = client.body(signer, account=account, gist_id=gist)
        answer = client.check(body)
        if answer.status == 200 and submit:
            console.print(
                "[dim]check passed; submitting (the gist's commitment must be revealed on chain)[/dim]"
            )
            answer = client.submit(signer, body)
    except httpx.HTTPError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    finally:
        client.close()
    if answer.status in (200, 201):
        ok(json.dumps(answer.body), status=answer.status)
        return
    err_console.print(f"[red]refused ({answer.status}):[/red] {json.dumps(answer.body)}")
    raise typer.Exit(1)


@app.command("check")
def check(
    ctx: typer.Context,
    gist: GistOption,
    account: AccountOption,
    url: UrlOption = DEFAULT_URL,
    github_api_url: GithubOption = None,
    uri: UriOption = None,
    wallet_name: WalletNameOption = None,
    wallet_hotkey: WalletHotkeyOption = "default",
    wallet_path: WalletPathOption = Path("~/.bittensor/wallets"),
) -> None:
    """Dry run: POST /check with the signed submission; nothing is stored."""
    _send(ctx, False, gist, account, url, github_api_url, uri, wallet_name, wallet_hotkey, wallet_path)


@app.command("submit")
def submit(
    ctx: typer.Context,
    gist: GistOption,
    account: AccountOption,
    url: UrlOption = DEFAULT_URL,
    github_api_url: GithubOption = None,
    uri: UriOption = None,
    wallet_name: WalletNameOption = None,
    wallet_hotkey: WalletHotkeyOption = "default",
    wallet_path: WalletPathOption = Path("~/.bittensor/wallets"),
) -> None:
    """POST /check, then /submit with the transport-signed headers."""
    _send(ctx, True, gist, account, url, github_api_url, uri, wallet_name, wallet_hotkey, wallet_path)


# --- operator commands ------------------------------------------------------------------------------------


@submissions_app.command("pause")
def pause(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Shown to miners (503 detail).")] = "",
) -> None:
    """Stop accepting submissions: Bitrecs /check and /submit and ORO /v1/miner/submit answer 503."""
    from proctor.core.bitrecs import flows

    with_core(
        settings_from(ctx),
        lambda core: flows.set_submissions(
            core, enabled=False, reason=reason, now=utcnow(), actor=cli_actor()
        ),
    )
    ok("submissions paused", reason=reason or "(default message)")


@submissions_app.command("resume")
def resume(ctx: typer.Context) -> None:
    """Accept submissions again."""
    from proctor.core.bitrecs import flows

    with_core(
        settings_from(ctx),
        lambda core: flows.set_submissions(core, enabled=True, reason="", now=utcnow(), actor=cli_actor()),
    )
    ok("submissions resumed")


@submissions_app.command("status")
def status(ctx: typer.Context) -> None:
    """Whether submissions are accepted."""
    from proctor.core.bitrecs import flows

    state: dict[str, Any] = with_core(settings_from(ctx), flows.submissions_status)
    console.print_json(json.dumps(state))


@keys_app.command("issue")
def issue(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Who the key is for.")]) -> None:
    """Issue a read-API key (shown once)."""
    from proctor.core.bitrecs import flows

    key = with_core(settings_from(ctx), lambda core: flows.issue_api_key(core, name=name, now=utcnow()))
    ok("key issued (shown once)", name=name)
    console.print(key)


@keys_app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke every key issued under `name`."""
    from proctor.core.bitrecs import flows

    count = with_core(settings_from(ctx), lambda core: flows.revoke_api_key(core, name=name, now=utcnow()))
    ok("keys revoked", name=name, count=count)
