"""`proctor claims serve`: the Merkle claim app on its own (Pool's standalone claim server, port 8844)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proctor.cli.common import settings_from

app = typer.Typer(help="The Merkle claim app (Pool's claim server).", no_args_is_help=True)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port to bind (default PROCTOR_CLAIMS_PORT, 8844).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
) -> None:
    """Serve the claim routes at the root path, reading the same database as `proctor serve`."""
    import uvicorn

    from proctor.app import create_app
    from proctor.logging import configure_logging

    if config is not None:
        ctx.find_root().obj = {"config": config}
    settings = settings_from(ctx)
    configure_logging(settings.log_level, json=settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        create_app(settings, at_root="claims"),
        host=host,
        port=port or settings.claims_port,
        access_log=False,
        proxy_headers=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )
