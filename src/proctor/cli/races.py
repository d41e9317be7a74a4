"""`proctor admin race …`: the race flows an operator drives (the same flows the race job calls), and
cancelling a race (no ORO admin route does that: oro-sdk 1.0.78's admin API has none)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from proctor.cli.common import cli_actor, console, ok, settings_from, with_core
from proctor.core.context import Core
from proctor.core.races import bank
from proctor.core.races import flows as races
from proctor.storage.base import utcnow
from proctor.storage.db import unit_of_work

T = TypeVar("T")
app = typer.Typer(
    help="Races: import the hidden race bank, close qualifying, show or cancel a race.", no_args_is_help=True
)


@app.command("import-bank")
def import_bank(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    suite_id: Annotated[
        int, typer.Option("--suite-id", help="The suite these race-only problems belong to.")
    ],
) -> None:
    """Import a suite's hidden race bank (same formats as a suite file; never shown publicly)."""
    document = json.loads(file.read_text(encoding="utf-8"))

    async def action(core: Core) -> int:
        async with unit_of_work(core.sessionmaker) as session:
            return await bank.import_bank(session, suite_id=suite_id, document=document)

    ok(f"race bank of suite {suite_id} imported", problems=with_core(settings_from(ctx), action))


@app.command("close-qualifying")
def close_qualifying(
    ctx: typer.Context,
    suite_id: Annotated[int | None, typer.Option("--suite-id", help="Default: the active suite.")] = None,
) -> None:
    """Close qualifying now (opening a race first if none is open): the field starts racing (audited)."""

    async def action(core: Core) -> races.RaceView:
        closed = await races.close_qualifying_now(core, actor=cli_actor(), suite_id=suite_id, now=utcnow())
        return await races.detail(core, race_id=closed.race_id)

    view = with_core(settings_from(ctx), action)
    ok(f"race {view.race.number} running", race_id=view.race.id, qualifiers=view.qualifier_count)
    _print(view)


@app.command("show")
def show(
    ctx: typer.Context,
    race_id: Annotated[str | None, typer.Option("--race-id", help="Default: the current race.")] = None,
) -> None:
    """Show a race (default: the active suite's current or latest race) with its qualifiers."""

    async def action(core: Core) -> races.RaceView | None:
        if race_id is None:
            return await races.current(core)
        return await races.detail(core, race_id=uuid.UUID(race_id))

    view = with_core(settings_from(ctx), action)
    if view is None:
        console.print("no race yet")
        return
    _print(view)


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    race_id: Annotated[str, typer.Argument(help="The race to cancel (see `proctor admin race show`).")],
    reason: Annotated[str | None, typer.Option("--reason", help="Recorded in the audit log.")] = None,
) -> None:
    """Cancel a race that has not completed: its live race runs end (their validators are refused),
    its open race work closes, nobody is eliminated and the top agent stays."""
    from proctor.cli.admin import run_flow  # the admin CLI imports this module

    try:
        rid = uuid.UUID(race_id)
    except ValueError:
        raise typer.BadParameter("not a race id (a UUID)", param_hint="RACE_ID") from None
    done = run_flow(
        settings_from(ctx),
        lambda core, actor, now: races.cancel(core, actor=actor, race_id=rid, reason=reason, now=now),
    )
    ok(f"race {done.number} cancelled", race_id=done.race_id, open_items=done.items, ended_runs=done.runs)


def _print(view: races.RaceView) -> None:
    race = view.race
    console.print(
        f"race {race.number} ({race.id}) suite {race.suite_id}: [bold]{race.status}[/bold]"
        + (f"  winner {view.winner_name} {race.winner_score:.4f}" if race.winner_score is not None else "")
    )
    table = Table("rank", "type", "hotkey", "agent", "version", "qualifying", "race score", "outcome")
    for q in view.qualifiers:
        table.add_row(
            str(q.row.race_rank or "-"),
            q.row.qualification_type,
            q.row.miner_hotkey[:12],
            q.agent.name,
            str(q.version.version_number),
            f"{q.row.qualifying_score:.4f}" if q.row.qualifying_score is not None else "-",
            f"{q.row.race_score:.4f}" if q.row.race_score is not None else "-",
            q.row.outcome or "-",
        )
    console.print(table)
