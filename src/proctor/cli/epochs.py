"""`proctor admin epoch …`: publish reward epochs and list them."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer
from rich.table import Table

from proctor.cli.common import console, err_console, ok, run_in_transaction, settings_from, transaction
from proctor.config import Settings
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards import sources
from proctor.errors import ProctorError
from proctor.storage.base import utcnow

app = typer.Typer(
    help="Reward epochs: publish (Merkle tree of cumulative amounts), list.", no_args_is_help=True
)


async def _publish(
    settings: Settings, *, budget: int, location: str, number: int | None
) -> epoch_service.Published:
    # A file or URL is read before the transaction opens: no database lock is held while it downloads.
    snapshot = (
        await sources.load_snapshot(
            location,
            max_bytes=settings.epoch_scores_max_mb * 2**20,
            timeout_seconds=settings.epoch_scores_timeout_seconds,
        )
        if location
        else None
    )
    async with transaction(settings) as session:
        scores = snapshot or await sources.proctor_scores(
            session, margin=settings.top_margin, emission_weight=settings.top_emission_weight
        )
        return await epoch_service.publish_epoch(
            session, budget_units=budget, scores=scores, now=utcnow(), number=number
        )


@app.command("publish")
def publish(
    ctx: typer.Context,
    budget: Annotated[int, typer.Option("--budget", help="Units (RAO) this epoch splits over the scores.")],
    scores: Annotated[
        str | None,
        typer.Option(
            "--scores",
            help="Score snapshot file or http(s) URL (autoresearch format). "
            "Default: PROCTOR_EPOCH_SCORES, else proctor's own ORO top policy.",
        ),
    ] = None,
    epoch: Annotated[int | None, typer.Option("--epoch", help="Epoch number (default: latest + 1).")] = None,
) -> None:
    """Publish the next epoch: split the budget, add it to the last epoch's amounts, build the tree."""
    settings = settings_from(ctx)
    location = (scores if scores is not None else settings.epoch_scores).strip()
    started = time.perf_counter()
    try:
        published = asyncio.run(_publish(settings, budget=budget, location=location, number=epoch))
    except ProctorError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    e = published.epoch
    ok(
        f"epoch {e.number} published",
        root=e.root,
        leaves=e.leaf_count,
        new_hotkeys=published.new_hotkeys,
        allocated=f"{e.allocated_units}/{e.budget_units}",
        total=e.total_units,
        source=e.source,
        seconds=f"{time.perf_counter() - started:.1f}",
    )


@app.command("list")
def list_epochs(ctx: typer.Context) -> None:
    """Published epochs, newest first."""
    epochs = run_in_transaction(settings_from(ctx), epoch_service.list_epochs)
    table = Table("epoch", "published", "leaves", "total", "allocated/budget", "root", "source")
    for e in epochs:
        table.add_row(
            str(e.number),
            e.published_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(e.leaf_count),
            str(e.total_units),
            f"{e.allocated_units}/{e.budget_units}",
            e.root[:18] + "…",
            e.source,
        )
    console.print(table)
