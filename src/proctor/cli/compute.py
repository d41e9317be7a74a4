"""`proctor compute …`: the GPU compute marketplace from the command line.

Operators (against the database the server uses): `miners list|approve|suspend`, `clients
issue|list|revoke`. Miners (over HTTP, against a running proctor): `miner register|heartbeat|stats|work`.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.cli.common import console, err_console, ok, run_in_transaction, settings_from
from proctor.core.compute import money
from proctor.core.compute import service as compute_service
from proctor.core.compute.schemas import IssuedClient, policy_from
from proctor.models import ComputeClient, ComputeMiner
from proctor.storage.base import utcnow
from proctor.surfaces.compute.client import ComputeApiError, Credentials, MinerClient, load_runner, work

app = typer.Typer(
    help="GPU compute marketplace (AITBC miner API): operator and miner commands.", no_args_is_help=True
)
miners_app = typer.Typer(help="Operator: list, approve and suspend miners.", no_args_is_help=True)
clients_app = typer.Typer(help="Operator: issue, list and revoke client API keys.", no_args_is_help=True)
miner_app = typer.Typer(help="Miner side, over HTTP: register, heartbeat, stats, work.", no_args_is_help=True)
app.add_typer(miners_app, name="miners")
app.add_typer(clients_app, name="clients")
app.add_typer(miner_app, name="miner")

DEFAULT_CREDENTIALS = Path("compute-miner.json")


# --- operator ------------------------------------------------------------------------------------------


@miners_app.command("list")
def miners_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only miners in this status (pending, active, …).")
    ] = None,
) -> None:
    """List miners, oldest first."""
    if status is not None and status not in compute_service.MINER_STATUSES:
        err_console.print(
            f"[red]error:[/red] --status must be one of {', '.join(compute_service.MINER_STATUSES)}"
        )
        raise typer.Exit(2)

    async def action(session: AsyncSession) -> list[ComputeMiner]:
        return list(await compute_service.list_miners(session, status=status))

    table = Table("miner_id", "name", "gpu", "gpus", "price/h", "max", "status", "last heartbeat")
    for m in run_in_transaction(settings_from(ctx), action):
        table.add_row(
            m.id,
            m.name,
            m.gpu_type,
            str(m.gpu_count),
            str(money.from_micro(m.price_per_hour_micro)),
            str(m.max_concurrent),
            m.status,
            m.last_heartbeat_at.strftime("%Y-%m-%d %H:%M:%S") if m.last_heartbeat_at else "-",
        )
    console.print(table)


@miners_app.command("issue-key")
def miners_issue_key(
    ctx: typer.Context,
    miner_id: Annotated[
        str | None,
        typer.Option("--miner-id", help="The id its software sends as X-Miner-ID (AITBC's MINER_ID)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for operators.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {miner_id, api_key} as JSON.")] = False,
) -> None:
    """Pre-provision an active miner and its API key (AITBC's operator-issued miner keys)."""

    async def action(session: AsyncSession) -> Any:
        return await compute_service.provision_miner(session, miner_id=miner_id, name=name, now=utcnow())

    issued = run_in_transaction(settings_from(ctx), action)
    if as_json:
        typer.echo(json.dumps({"miner_id": issued.miner.id, "api_key": issued.api_key}))
        return
    ok(f"miner {issued.miner.id} is active")
    typer.echo(f"api_key: {issued.api_key}")
    typer.echo(
        "Store it now: it is not shown again. AITBC's miner: MINER_ID=<miner id> MINER_API_KEY=<key>;"
        " its first POST /v1/miners/register sets the offer."
    )


@miners_app.command("approve")
def miners_approve(
    ctx: typer.Context,
    miner_ids: Annotated[list[str] | None, typer.Argument(help="Miner ids to approve.")] = None,
    all_pending: Annotated[bool, typer.Option("--all-pending", help="Approve every pending miner.")] = False,
) -> None:
    """Let pending (or suspended) miners take work."""
    if not miner_ids and not all_pending:
        err_console.print("[red]error:[/red] name miner ids or pass --all-pending")
        raise typer.Exit(2)

    async def action(session: AsyncSession) -> list[str]:
        ids = list(miner_ids or [])
        if all_pending:
            ids += [m.id for m in await compute_service.list_miners(session, status="pending")]
        now = utcnow()
        return [(await compute_service.approve_miner(session, miner_id=i, now=now)).id for i in ids]

    for miner_id in run_in_transaction(settings_from(ctx), action):
        ok(f"miner {miner_id} is active")


@miners_app.command("suspend")
def miners_suspend(ctx: typer.Context, miner_id: str) -> None:
    """Stop a miner taking work; its running jobs go back to the queue at once."""
    settings = settings_from(ctx)

    async def action(session: AsyncSession) -> int:
        return await compute_service.suspend_miner(
            session, miner_id=miner_id, policy=policy_from(settings), now=utcnow()
        )

    returned = run_in_transaction(settings, action)
    ok(f"miner {miner_id} is suspended", jobs_requeued=returned)


@clients_app.command("issue")
def clients_issue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who the key is for.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print {client_id, api_key} as JSON.")] = False,
) -> None:
    """Issue a client API key. It is printed once and stored only as a hash."""

    async def action(session: AsyncSession) -> IssuedClient:
        return await compute_service.issue_client(session, name=name, now=utcnow())

    issued = run_in_transaction(settings_from(ctx), action)
    if as_json:
        typer.echo(
            json.dumps({"client_id": issued.client_id, "name": issued.name, "api_key": issued.api_key})
        )
        return
    ok(f"client {issued.client_id} issued")
    typer.echo(f"api_key: {issued.api_key}")
    typer.echo("Store it now: it is not shown again. Send it as `Authorization: Bearer …` or `X-Api-Key`.")


@clients_app.command("list")
def clients_list(ctx: typer.Context) -> None:
    """List client accounts."""

    async def action(session: AsyncSession) -> list[ComputeClient]:
        return list(await compute_service.list_clients(session))

    table = Table("client_id", "name", "created", "revoked")
    for c in run_in_transaction(settings_from(ctx), action):
        revoked = c.revoked_at.strftime("%Y-%m-%d %H:%M") if c.revoked_at else ""
        table.add_row(c.id, c.name, c.created_at.strftime("%Y-%m-%d %H:%M"), revoked)
    console.print(table)


@clients_app.command("revoke")
def clients_revoke(ctx: typer.Context, client_id: str) -> None:
    """Refuse a client's key from now on."""

    async def action(session: AsyncSession) -> None:
        await compute_service.revoke_client(session, client_id=client_id, now=utcnow())

    run_in_transaction(settings_from(ctx), action)
    ok(f"client {client_id} revoked")


# --- miner -----------------------------------------------------------------------------------------------

UrlOption = Annotated[
    str, typer.Option("--url", envvar="PROCTOR_COMPUTE_URL", help="The proctor serving the compute API.")
]
CredentialsOption = Annotated[
    Path, typer.Option("--credentials", help="JSON file with url, miner_id and api_key (from `register`).")
]
MinerIdOption = Annotated[str | None, typer.Option("--miner-id", envvar="PROCTOR_COMPUTE_MINER_ID")]
ApiKeyOption = Annotated[str | None, typer.Option("--api-key", envvar="PROCTOR_COMPUTE_API_KEY")]


def _credentials(path: Path, url: str | None, miner_id: str | None, api_key: str | None) -> Credentials:
    """Explicit --miner-id/--api-key win; otherwise the credentials file."""
    if miner_id and api_key:
        return Credentials(url or "http://127.0.0.1:8000", miner_id, api_key)
    if not path.is_file():
        err_console.print(f"[red]error:[/red] no --miner-id/--api-key and no credentials file at {path}")
        raise typer.Exit(2)
    saved = Credentials.load(path)
    return Credentials(url or saved.url, saved.miner_id, saved.api_key)


def _run_http(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except ComputeApiError as exc:
        err_console.print(f"[red]error:[/red] {exc.status} {exc.code}: {exc.detail}")
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        err_console.print(f"[red]error:[/red] cannot reach the server: {exc}")
        raise typer.Exit(1) from exc


def _decimal(value: str, what: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        err_console.print(f"[red]error:[/red] {what} must be a decimal number, not {value!r}")
        raise typer.Exit(2) from exc


@miner_app.command("register")
def miner_register(
    name: Annotated[str, typer.Option(help="A name for this machine.")],
    gpu_type: Annotated[str, typer.Option(help="e.g. a100, v100, rtx4090.")],
    price_per_hour: Annotated[str, typer.Option(help="Asking price per hour, e.g. 0.05.")],
    gpu_count: Annotated[int, typer.Option(min=1)] = 1,
    location: Annotated[str | None, typer.Option(help="e.g. us-east.")] = None,
    max_concurrent: Annotated[int, typer.Option(min=1, help="Jobs run at once.")] = 1,
    url: UrlOption = "http://127.0.0.1:8000",
    save: Annotated[
        Path, typer.Option("--save", help="Where to write the credentials.")
    ] = DEFAULT_CREDENTIALS,
) -> None:
    """Register this machine's offer and save its credentials (the API key is shown only once)."""
    offer = {
        "name": name,
        "gpu_type": gpu_type,
        "gpu_count": gpu_count,
        "location": location,
        "price_per_hour": str(_decimal(price_per_hour, "--price-per-hour")),
        "max_concurrent": max_concurrent,
    }

    async def go() -> tuple[Credentials, str]:
        async with MinerClient(url) as client:
            credentials = await client.register(offer)
            return credentials, (await client.me())["status"]

    credentials, status = _run_http(go())
    credentials.save(save)
    ok(f"miner {credentials.miner_id} registered", status=status)
    typer.echo(f"credentials saved to {save} (mode 600); status {status!r}")


@miner_app.command("heartbeat")
def miner_heartbeat(
    credentials: CredentialsOption = DEFAULT_CREDENTIALS,
    url: Annotated[str | None, typer.Option("--url", envvar="PROCTOR_COMPUTE_URL")] = None,
    miner_id: MinerIdOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Send one heartbeat and show what the server says."""

    async def go() -> dict[str, Any]:
        async with MinerClient.from_credentials(_credentials(credentials, url, miner_id, api_key)) as client:
            return await client.heartbeat()

    answer = _run_http(go())
    ok("heartbeat", **answer)


@miner_app.command("stats")
def miner_stats(
    credentials: CredentialsOption = DEFAULT_CREDENTIALS,
    url: Annotated[str | None, typer.Option("--url", envvar="PROCTOR_COMPUTE_URL")] = None,
    miner_id: MinerIdOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show jobs, success rate and earnings."""

    async def go() -> dict[str, Any]:
        async with MinerClient.from_credentials(_credentials(credentials, url, miner_id, api_key)) as client:
            return await client.stats()

    typer.echo(json.dumps(_run_http(go()), indent=2))


@miner_app.command("work")
def miner_work(
    credentials: CredentialsOption = DEFAULT_CREDENTIALS,
    url: Annotated[str | None, typer.Option("--url", envvar="PROCTOR_COMPUTE_URL")] = None,
    miner_id: MinerIdOption = None,
    api_key: ApiKeyOption = None,
    runner: Annotated[
        str, typer.Option(help="module:function that runs one job.")
    ] = "proctor.surfaces.compute.client:echo_runner",
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs run at once (≤ max_concurrent).")] = 1,
    max_jobs: Annotated[int | None, typer.Option(min=1, help="Stop after this many jobs.")] = None,
    idle_exit: Annotated[float | None, typer.Option(help="Stop after this many idle seconds.")] = None,
    poll_interval: Annotated[float, typer.Option(min=0.05)] = 2.0,
    heartbeat_interval: Annotated[float, typer.Option(min=0.5)] = 10.0,
) -> None:
    """Heartbeat, accept the jobs this miner can run, run them with the runner, complete them."""
    try:
        run = load_runner(runner)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc

    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "accepted":
            console.print(f"accepted {data['job_id']}  model={data['model']}  price={data['price']}")
        elif kind == "completed":
            console.print(f"[green]completed[/green] {data['job_id']}  earned={data['earned']}")
        elif kind in ("failed", "complete_error", "heartbeat_error", "waiting"):
            console.print(f"[yellow]{kind}[/yellow] {json.dumps(data)}")

    async def go() -> Any:
        async with MinerClient.from_credentials(_credentials(credentials, url, miner_id, api_key)) as client:
            return await work(
                client,
                run,
                concurrency=concurrency,
                max_jobs=max_jobs,
                idle_exit=idle_exit,
                poll_interval=poll_interval,
                heartbeat_interval=heartbeat_interval,
                on_event=show,
            )

    try:
        summary = _run_http(go())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    ok(
        "work finished",
        accepted=summary.accepted,
        completed=summary.completed,
        failed=summary.failed,
        lost_races=summary.lost_races,
        earned=summary.earned,
    )
    for error in summary.errors:
        err_console.print(f"[yellow]warning:[/yellow] {error}")
