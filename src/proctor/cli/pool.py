"""`proctor admin pool …`: the BitSOTA Pool's operator commands (seed set, window close)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from proctor.cli.common import err_console, ok, settings_from, with_core
from proctor.core.pool import flows
from proctor.storage.base import utcnow

app = typer.Typer(help="BitSOTA Pool: import the seed set, close ended windows.", no_args_is_help=True)
seeds_app = typer.Typer(
    help="The seed algorithms an empty pool evaluates and evolves from.", no_args_is_help=True
)
app.add_typer(seeds_app, name="seeds")
T = TypeVar("T")
MAX_SEED_FILE_BYTES = 64 * 1024 * 1024


def read_seeds(path: Path) -> list[dict[str, Any]]:
    """JSON (a list, or `{"seeds"|"algorithms": [...]}` of `{algorithm_dsl, task_type?, input_dim?}` or
    strings), or any other file as one DSL text."""
    if path.stat().st_size > MAX_SEED_FILE_BYTES:
        raise ValueError(f"{path} is larger than {MAX_SEED_FILE_BYTES} bytes")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() != ".json":
        return [{"algorithm_dsl": text}]
    document = json.loads(text)
    items = document.get("seeds", document.get("algorithms")) if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of seeds, or an object with a `seeds` list")
    seeds = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = {"algorithm_dsl": item}
        if not isinstance(item, dict) or not isinstance(item.get("algorithm_dsl", item.get("dsl")), str):
            raise ValueError(f"{path}: seeds[{i}] needs an algorithm_dsl string")
        seeds.append(item)
    return seeds


@seeds_app.command("import")
def seeds_import(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="JSON seed lists, or DSL text files (one seed each).")],
) -> None:
    """Add seed algorithms (content-addressed: importing one twice changes nothing)."""
    settings = settings_from(ctx)
    try:
        seeds = [seed for path in files for seed in read_seeds(path)]
    except (OSError, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    added, known = with_core(settings, lambda core: flows.import_seeds(core, seeds=seeds, now=utcnow()))
    ok("seeds imported", added=added, already_known=known)


@app.command("close-windows")
def close_windows(ctx: typer.Context) -> None:
    """Close every ended window now (what the periodic job does): consensus, points, reputation."""
    settings = settings_from(ctx)
    closed = with_core(settings, lambda core: flows.close_windows(core, utcnow(), limit=1000))
    ok("windows closed", windows=",".join(map(str, closed)) or "none")
