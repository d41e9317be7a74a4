"""`proctor admin …`: operator commands against the same database the server uses."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from proctor.cli import bitrecs, compute, epochs, pool, races
from proctor.cli.common import (
    cli_actor,
    console,
    err_console,
    ok,
    run_in_transaction,
    settings_from,
    with_core,
)
from proctor.config import Settings
from proctor.core.admin import audit
from proctor.core.admin import flows as admin_flows
from proctor.core.admin.audit import Actor
from proctor.core.context import Core
from proctor.core.identity import service as identity_service
from proctor.core.suites import service as suite_service
from proctor.core.suites.documents import load_suite_json
from proctor.errors import ValidationFailed
from proctor.storage.base import utcnow

T = TypeVar("T")

app = typer.Typer(
    help="Operator commands: suites, hotkeys, epochs, compute miners and client keys, secrets.",
    no_args_is_help=True,
)
suite_app = typer.Typer(help="Problem suites: import, activate, list.", no_args_is_help=True)
hotkey_app = typer.Typer(help="Hotkeys: register, grant validator permits, ban, unban.", no_args_is_help=True)
version_app = typer.Typer(help="Agent versions: discard, reinstate, reevaluate.", no_args_is_help=True)
validators_app = typer.Typer(help="Validators: pause and resume claims.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")
app.add_typer(hotkey_app, name="hotkey")
app.add_typer(version_app, name="version")
app.add_typer(validators_app, name="validators")
app.add_typer(epochs.app, name="epoch")
app.add_typer(pool.app, name="pool")
app.add_typer(races.app, name="race")
# The compute marketplace's operator commands, also under `proctor admin` where operators look first.
app.add_typer(compute.miners_app, name="compute-miners")
app.add_typer(compute.clients_app, name="compute-clients")
app.add_typer(bitrecs.submissions_app, name="submissions")
app.add_typer(bitrecs.keys_app, name="bitrecs-keys")

MAX_SUITE_FILE_BYTES = 256 * 1024 * 1024


def run_flow(settings: Settings, action: Callable[[Core, Actor, datetime], Awaitable[T]]) -> T:
    """Run one admin flow (the same code the ORO admin API calls, audit event included) against the
    configured database; domain errors become a clean message and exit code 1."""

    return with_core(settings, lambda core: action(core, cli_actor(), utcnow()))


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
        document = load_suite_json(file.read_bytes())
    except ValidationFailed as exc:
        err_console.print(f"[red]error:[/red] {file}: {exc.message}")
        raise typer.Exit(1) from exc
    hidden = suite_service.resolve_hidden_fields(hidden_field or [], public_field or [])

    result = run_flow(
        settings,
        lambda core, actor, now: admin_flows.import_suite(
            core,
            actor=actor,
            document=document,
            name=name or file.stem,
            version=version,
            hidden_fields=hidden,
            activate=activate,
            now=now,
        ),
    )
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
def suite_activate(
    ctx: typer.Context,
    suite_id: int,
    requeue_top_n: Annotated[
        int, typer.Option(min=0, help="Re-queue the previous suite's top N versions on this one.")
    ] = 0,
) -> None:
    """Make a suite the active one (submissions are evaluated against it)."""

    state = run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.activate_suite(
            core, actor=actor, suite_id=suite_id, requeue_top_n=requeue_top_n, now=now
        ),
    )
    ok(f"suite {suite_id} is now active", requeued=state.requeued_versions)


@suite_app.command("deactivate")
def suite_deactivate(ctx: typer.Context) -> None:
    """Leave no suite active: new submissions are refused with NO_ACTIVE_SUITE."""
    run_flow(
        settings_from(ctx), lambda core, actor, now: admin_flows.deactivate_suites(core, actor=actor, now=now)
    )
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

    settings = settings_from(ctx)
    run_flow(
        settings,
        lambda core, actor, now: admin_flows.ban_hotkey(
            core, actor=actor, hotkey=hotkey, reason=reason, role="hotkey", now=now
        ),
    )
    ok(f"{hotkey} banned", takes_effect_within=f"{settings.registry_refresh_seconds:g}s")


@hotkey_app.command("unban")
def hotkey_unban(ctx: typer.Context, hotkey: str) -> None:
    """Lift a ban."""

    run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.unban_hotkey(
            core, actor=actor, hotkey=hotkey, role="hotkey", now=now
        ),
    )
    ok(f"{hotkey} is not banned")


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

    run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.grant_hotkey(
            core,
            actor=actor,
            hotkey=hotkey,
            validator_permit=validator,
            stake=stake,
            uid=uid,
            note=note,
            now=now,
        ),
    )
    ok(f"{hotkey} registered", validator_permit=validator, stake=stake)


@hotkey_app.command("revoke")
def hotkey_revoke(ctx: typer.Context, hotkey: str) -> None:
    """Remove an operator registration/permit (the registry source still applies)."""

    if run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.revoke_hotkey(core, actor=actor, hotkey=hotkey, now=now),
    ):
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


@version_app.command("discard")
def version_discard(
    ctx: typer.Context,
    version_id: uuid.UUID,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
) -> None:
    """Take a version off the leaderboard and the top; cancel its open work and end its leases."""
    done = run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.discard_agent_version(
            core, actor=actor, version_id=version_id, reason=reason, suite_id=None, now=now
        ),
    )
    ok(f"version {version_id} discarded", cancelled_runs=done.cancelled_runs)


@version_app.command("reinstate")
def version_reinstate(
    ctx: typer.Context,
    version_id: uuid.UUID,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit trail).")] = None,
) -> None:
    """Undo a discard."""
    done = run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.reinstate_agent_version(
            core, actor=actor, version_id=version_id, reason=reason, suite_id=None, now=now
        ),
    )
    ok(f"version {version_id} reinstated", state=done.state)


@version_app.command("reevaluate")
def version_reevaluate(
    ctx: typer.Context,
    version_id: uuid.UUID,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    runs: Annotated[int | None, typer.Option("--runs", help="More successful runs to require.")] = None,
) -> None:
    """Reopen a version's work item for more runs."""
    run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.reevaluate_agent_version(
            core,
            actor=actor,
            version_id=version_id,
            reason=reason,
            suite_id=None,
            required_successes=runs,
            now=now,
        ),
    )
    ok(f"version {version_id} queued for re-evaluation")


@validators_app.command("pause")
def validators_pause(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
) -> None:
    """Stop every new claim (claims answer "no work"); running evaluations finish."""
    run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.pause_validators(
            core, actor=actor, reason=reason, auto_release_at=None, now=now
        ),
    )
    ok("validator claims paused")


@validators_app.command("resume")
def validators_resume(
    ctx: typer.Context,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit trail).")] = None,
) -> None:
    """Let validators claim again."""
    run_flow(
        settings_from(ctx),
        lambda core, actor, now: admin_flows.resume_validators(core, actor=actor, reason=reason, now=now),
    )
    ok("validator claims resumed")


@app.command("audit")
def audit_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many events.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action (e.g. BAN_MINER).")] = None,
) -> None:
    """The newest audit events (every operator action, from the API or this CLI)."""
    page = run_flow(
        settings_from(ctx),
        lambda core, _actor, _now: admin_flows.audit_events(
            core, where=audit.AuditFilter(action=action), limit=limit, offset=0
        ),
    )
    table = Table("when", "actor", "via", "action", "target", "reason")
    for e in page.events:
        table.add_row(
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor_hotkey,
            e.via,
            e.action,
            f"{e.target_type}:{e.target_id}",
            e.reason or "",
        )
    console.print(table)
    console.print(f"{page.total} events in all")


secret_key_app = typer.Typer(
    help="Print a fresh random value for PROCTOR_SECRET_KEY; `rotate` re-encrypts stored credentials.",
    invoke_without_command=True,
)
app.add_typer(secret_key_app, name="secret-key")


@secret_key_app.callback()
def secret_key(ctx: typer.Context) -> None:
    """Print a fresh random value for PROCTOR_SECRET_KEY (with no subcommand)."""
    if ctx.invoked_subcommand is None:
        console.print(secrets.token_urlsafe(48))


@secret_key_app.command("rotate")
def secret_key_rotate(
    ctx: typer.Context,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 200,
) -> None:
    """Re-encrypt every stored credential under PROCTOR_SECRET_KEY.

    Set the new key as PROCTOR_SECRET_KEY and the old one in PROCTOR_PREVIOUS_SECRET_KEYS (on the
    servers too), then run this; it is safe to run again or after an interruption. Prints counts and
    key ids only. Exit code 1 while any row is not yet under the current key.
    """
    from proctor.core.credentials import service as credential_service
    from proctor.core.credentials.crypto import CredentialCipher

    settings = settings_from(ctx)
    cipher = CredentialCipher.from_settings(settings)
    report = with_core(
        settings,
        lambda core: credential_service.rotate_secret_key(
            core.sessionmaker, cipher=cipher, batch_size=batch_size
        ),
    )
    ok(
        f"{report.reencrypted} credentials re-encrypted under key {report.key_id}",
        changed_meanwhile=report.changed_meanwhile,
    )
    table = Table("key id", "rows", "")
    for key_id, rows in sorted(report.by_key.items()):
        table.add_row(key_id, str(rows), "current" if key_id == report.key_id else "")
    console.print(table)
    for key_id, rows in sorted(report.undecryptable.items()):
        err_console.print(
            f"[red]{rows} credentials under key {key_id} open with no configured key[/red]: add that key "
            "to PROCTOR_PREVIOUS_SECRET_KEYS, or have those miners connect their provider again"
        )
    if report.remaining:
        err_console.print(f"[yellow]{report.remaining} credentials are not under the current key[/yellow]")
        raise typer.Exit(1)
