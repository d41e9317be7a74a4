"""`proctor admin …`: operator commands against the same database the server uses."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.cli import compute, epochs, races
from proctor.cli.common import console, err_console, ok, run_in_transaction, settings_from
from proctor.core.identity import service as identity_service
from proctor.core.suites import service as suite_service

app = typer.Typer(
    help="Operator commands: suites, hotkeys, epochs, compute miners and client keys, secrets.",
    no_args_is_help=True,
)
suite_app = typer.Typer(help="Problem suites: import, activate, list.", no_args_is_help=True)
hotkey_app = typer.Typer(help="Hotkeys: register, grant validator permits, ban, unban.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")
app.add_typer(hotkey_app, name="hotkey")
app.add_typer(epochs.app, name="epoch")
app.add_typer(races.app, name="race")
# The compute marketplace's operator commands, also under `proctor admin` where operators look first.
app.add_typer(compute.miners_app, name="compute-miners")
app.add_typer(compute.clients_app, name="compute-clients")

MAX_SUITE_FILE_BYTES = 256 * 1024 * 1024


@suite_app.command("import")
def suite_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    activate: Annotated[bool, typer.Option("--activate", help="Make it the active suite.")] = False,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    version: Annotated[int | None, typer.Option(help="Suite version (default: next).")] = None,
    hidden_field: Annotated[
        list[str] | None, typer.Option("--hidden-field", help="Also hide this metadata key from the public.")
    ] = None,
    public_field: Annotated[
        list[str] | None, typer.Option("--public-field", help="Publish this metadata key (e.g. reward).")
    ] = None,
) -> None:
    """Import a suite file: ORO's JSON list of problems, or {"problems": [{problem_id, metadata}]}."""
    settings = settings_from(ctx)
    if file.stat().st_size > MAX_SUITE_FILE_BYTES:
        err_console.print(f"[red]error:[/red] {file} is larger than {MAX_SUITE_FILE_BYTES} bytes")
        raise typer.Exit(1)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        err_console.print(f"[red]error:[/red] {file} is not UTF-8 JSON: {exc}")
        raise typer.Exit(1) from exc
    hidden = suite_service.resolve_hidden_fields(hidden_field or [], public_field or [])

    async def action(session: AsyncSession) -> suite_service.ImportResult:
        return await suite_service.import_suite(
            session,
            document=document,
            name=name or file.stem,
            version=version,
            hidden_fields=hidden,
            activate=activate,
        )

    result = run_in_transaction(settings, action)
    suite = result.suite
    verb = "imported" if result.created else "already imported (same content)"
    ok(
        f"suite {suite.id} {verb}",
        version=suite.version,
        problems=suite.problem_count,
        active=suite.is_active,
        hidden=",".join(suite.hidden_fields),
    )


@suite_app.command("activate")
def suite_activate(ctx: typer.Context, suite_id: int) -> None:
    """Make a suite the active one (submissions are evaluated against it)."""

    async def action(session: AsyncSession) -> None:
        await suite_service.activate_suite(session, suite_id=suite_id)

    run_in_transaction(settings_from(ctx), action)
    ok(f"suite {suite_id} is now active")


@suite_app.command("deactivate")
def suite_deactivate(ctx: typer.Context) -> None:
    """Leave no suite active: new submissions are refused with NO_ACTIVE_SUITE."""
    run_in_transaction(settings_from(ctx), suite_service.deactivate_all)
    ok("no suite is active")


@suite_app.command("list")
def suite_list(ctx: typer.Context) -> None:
    """List suites, newest first."""
    suites = run_in_transaction(settings_from(ctx), suite_service.list_suites)
    table = Table("id", "version", "name", "problems", "active", "created")
    for s in suites:
        table.add_row(
            str(s.id),
            str(s.version),
            s.name,
            str(s.problem_count),
            "●" if s.is_active else "",
            s.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@hotkey_app.command("ban")
def hotkey_ban(
    ctx: typer.Context,
    hotkey: str,
    reason: Annotated[str, typer.Option("--reason", help="Shown to operators; stored with the ban.")] = "",
) -> None:
    """Ban a hotkey: every signed request from it is refused (403, body says "banned")."""

    async def action(session: AsyncSession) -> None:
        await identity_service.ban(session, hotkey=hotkey, reason=reason)

    settings = settings_from(ctx)
    run_in_transaction(settings, action)
    ok(f"{hotkey} banned", takes_effect_within=f"{settings.registry_refresh_seconds:g}s")


@hotkey_app.command("unban")
def hotkey_unban(ctx: typer.Context, hotkey: str) -> None:
    """Lift a ban."""

    async def action(session: AsyncSession) -> bool:
        return await identity_service.unban(session, hotkey=hotkey)

    if run_in_transaction(settings_from(ctx), action):
        ok(f"{hotkey} unbanned")
    else:
        console.print(f"{hotkey} was not banned")


@hotkey_app.command("register")
def hotkey_register(
    ctx: typer.Context,
    hotkey: str,
    validator: Annotated[bool, typer.Option("--validator", help="Grant a validator permit.")] = False,
    stake: Annotated[float, typer.Option(help="Stake to record (for PROCTOR_VALIDATOR_MIN_STAKE).")] = 0.0,
    uid: Annotated[int | None, typer.Option(help="UID to record.")] = None,
    note: Annotated[str, typer.Option(help="Free text for operators.")] = "",
) -> None:
    """Register a hotkey on top of the registry source (and optionally grant a validator permit)."""

    async def action(session: AsyncSession) -> None:
        await identity_service.grant(
            session, hotkey=hotkey, validator_permit=validator, stake=stake, uid=uid, note=note
        )

    run_in_transaction(settings_from(ctx), action)
    ok(f"{hotkey} registered", validator_permit=validator, stake=stake)


@hotkey_app.command("revoke")
def hotkey_revoke(ctx: typer.Context, hotkey: str) -> None:
    """Remove an operator registration/permit (the registry source still applies)."""

    async def action(session: AsyncSession) -> bool:
        return await identity_service.revoke(session, hotkey=hotkey)

    if run_in_transaction(settings_from(ctx), action):
        ok(f"{hotkey} grant removed")
    else:
        console.print(f"{hotkey} had no grant")


@hotkey_app.command("list")
def hotkey_list(ctx: typer.Context) -> None:
    """Show operator grants and bans."""

    async def action(session: AsyncSession) -> tuple[list, list]:  # type: ignore[type-arg]
        return list(await identity_service.list_grants(session)), list(
            await identity_service.list_bans(session)
        )

    grants, bans = run_in_transaction(settings_from(ctx), action)
    table = Table("hotkey", "kind", "detail")
    for g in grants:
        table.add_row(
            g.hotkey, "validator" if g.validator_permit else "miner", f"stake={g.stake:g} uid={g.uid}"
        )
    for b in bans:
        table.add_row(b.hotkey, "[red]banned[/red]", b.reason)
    console.print(table)


@app.command("secret-key")
def secret_key() -> None:
    """Print a fresh random value for PROCTOR_SECRET_KEY."""
    console.print(secrets.token_urlsafe(48))
