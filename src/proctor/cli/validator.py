"""`proctor validator …`: the reference validator (claim → heartbeat → evaluate → logs → complete)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
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
from proctor.validator import weights as race_weights
from proctor.validator.evaluator import DEFAULT_EVALUATOR, load_evaluator
from proctor.validator.loop import LoopConfig, ValidatorLoop
from proctor.validator.report import JsonReporter, Reporter, RichReporter
from proctor.validator.sandbox import MIN_MEMORY_MB, SandboxLimits

app = typer.Typer(
    help="Validator side: claim evaluation runs and score agents; the weights after a race.",
    no_args_is_help=True,
)


@app.command("run")
def run(
    url: UrlOption = DEFAULT_URL,
    uri: UriOption = None,
    wallet_name: WalletNameOption = None,
    wallet_hotkey: WalletHotkeyOption = "default",
    wallet_path: WalletPathOption = DEFAULT_WALLET_PATH,
    once: Annotated[
        bool, typer.Option("--once", help="Evaluate at most one run, then exit (0: recorded or no work).")
    ] = False,
    max_runs: Annotated[int | None, typer.Option("--max-runs", min=1, help="Stop after N runs.")] = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.1, help="Seconds between claims when there is no work.")
    ] = 30.0,
    heartbeat_interval: Annotated[
        float, typer.Option("--heartbeat-interval", min=0.1, help="Seconds between lease renewals.")
    ] = 30.0,
    progress_interval: Annotated[
        float, typer.Option("--progress-interval", min=0.0, help="Most frequent progress update, seconds.")
    ] = 10.0,
    problem_timeout: Annotated[
        float, typer.Option("--problem-timeout", min=0.1, help="Wall-clock limit per problem, seconds.")
    ] = 300.0,
    run_timeout: Annotated[
        float, typer.Option("--run-timeout", min=1.0, help="Wall-clock limit for a whole run, seconds.")
    ] = 1800.0,
    memory_mb: Annotated[
        int, typer.Option("--memory-mb", min=MIN_MEMORY_MB, help="Address-space limit of the agent process.")
    ] = 1024,
    cpu_seconds: Annotated[
        int, typer.Option("--cpu-seconds", min=1, help="CPU-time limit of the agent process per problem.")
    ] = 300,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Problems evaluated at once.")] = 1,
    evaluator: Annotated[
        str, typer.Option("--evaluator", help="Evaluator as module:attr (an instance or a factory).")
    ] = DEFAULT_EVALUATOR,
    work_dir: Annotated[
        Path | None,
        typer.Option("--work-dir", help="Where sandbox directories are created (default: TMPDIR)."),
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Quiet mode for machines: one JSON object per event on stdout.")
    ] = False,
) -> None:
    """Claim evaluation runs and evaluate them, one agent process per problem.

    Each problem runs `agent_main(problem_data)` in a fresh child process (`python -I -S`: standard
    library only) with a CPU-time limit, an address-space limit, a wall-clock limit (the process group
    is killed), an empty environment (no PROCTOR_* variables, tokens or wallet paths), a new temporary
    working directory, stdin from /dev/null and capped stdout/stderr. The ground truth (reward,
    voucher, reward_title_embeddings, expected/answer fields, and any field the server hides from
    the public suite view) is removed before the agent sees a problem.

    Scoring rule (per problem, in [0, 1]):

    - ORO-shaped problems (metadata.reward, one object or a list): the agent returns a list of
    objects; its first k distinct product_id values count, k = the number of ground-truth products;
    score = fraction of ground-truth product_ids among them.

    - Problems with metadata.expected: 1.0 when the returned value equals it, else 0.0.

    - Problems without ground truth: 1.0 for a list of objects, else 0.0.

    Errors, invalid output, the memory limit and timeouts score 0.0 (the reason is in the problem's
    summary and log). The run's validator_score is the mean over all its problems. An agent that
    cannot be loaded at all fails the run (FAILED with the reason).
    """
    signer = signer_or_exit(
        uri=uri, wallet_name=wallet_name, wallet_hotkey=wallet_hotkey, wallet_path=wallet_path
    )
    try:
        limits = SandboxLimits(wall_seconds=problem_timeout, cpu_seconds=cpu_seconds, memory_mb=memory_mb)
        chosen = load_evaluator(evaluator, limits, work_root=work_dir)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    config = LoopConfig(
        url=url.rstrip("/"),
        once=once,
        max_runs=max_runs,
        poll_interval=poll_interval,
        heartbeat_interval=heartbeat_interval,
        progress_interval=progress_interval,
        run_timeout=run_timeout,
        workers=workers,
        work_root=work_dir,
    )
    reporter: Reporter = JsonReporter() if json_lines else RichReporter()
    if not json_lines:
        err_console.print(
            f"[dim]validator {signer.ss58_address} → {config.url}  evaluator={chosen.name}  "
            f"limits: {problem_timeout:g}s wall, {cpu_seconds}s CPU, {memory_mb} MB[/dim]"
        )
    stop = threading.Event()
    loop = ValidatorLoop(config, signer, chosen, reporter, stop=stop)
    try:
        code = loop.run()
    except KeyboardInterrupt:
        stop.set()
        err_console.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    raise typer.Exit(code)


@app.command("weights")
def weights(
    url: UrlOption = DEFAULT_URL,
    burn: Annotated[
        float | None,
        typer.Option(
            "--burn", min=0.0, max=1.0, help="Share burned to UID 0 (default: 1 - /top's emission_weight)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the weights as JSON.")] = False,
) -> None:
    """Print the weights a validator would set now: the latest completed race's finishers (ORO's
    weight-setter reads: race history → first RACE_COMPLETE → race detail), split as
    `proctor.core.races.weights` documents."""
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=30.0) as http:
            found = race_weights.read(http, burn=burn)
    except httpx.HTTPError as exc:
        err_console.print(f"[red]error:[/red] could not read the races from {url}: {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        print_weights_json(found)
    else:
        print_weights(found, console)


def print_weights_json(found: race_weights.RaceWeights) -> None:
    race = found.race or {}
    document = {
        "race_id": race.get("race_id"),
        "race_number": race.get("race_number"),
        "burn": found.burn,
        "weights": [
            {"rank": s.rank, "miner_hotkey": s.miner_hotkey, "race_score": s.race_score, "weight": s.weight}
            for s in found.shares
        ],
    }
    console.print_json(json.dumps(document))


def print_weights(found: race_weights.RaceWeights, out: Console) -> None:
    if found.race is None:
        out.print("no completed race yet: a validator skips setting weights")
        return
    race = found.race
    table = Table(
        "rank",
        "miner hotkey",
        "race score",
        "weight",
        title=f"weights after race {race.get('race_number')} ({race.get('race_id')}), burn {found.burn:g}",
        title_justify="left",
    )
    for s in found.shares:
        table.add_row(
            str(s.rank) if s.rank is not None else "-",
            s.miner_hotkey,
            f"{s.race_score:.4f}" if s.race_score is not None else "-",
            f"{s.weight:.6f}",
        )
    out.print(table)
