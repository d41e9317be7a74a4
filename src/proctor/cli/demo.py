"""`proctor demo`: a whole network on one machine, on the embedded defaults, in its own data folder.

1. Writes a registry file with development keys: miner //Bob, validators //Alice and //Charlie.
2. Imports proctor's small ORO-shaped sample suite (`proctor/data/demo/suite.json`) and activates it.
3. Starts `proctor serve` as a child process (SQLite + local blobs in the demo folder, a relaxed
   global rate limit, a one-minute submission cooldown; the log goes to `server.log` there).
4. Submits the sample agent (`proctor/data/demo/agent.py`) as //Bob through the miner client.
5. Runs the reference validator as //Alice and //Charlie at once until the agent is ELIGIBLE.
6. Races: imports the sample race bank (`proctor/data/demo/race_bank.json`, hidden race-only problems),
   closes qualifying (`proctor admin race close-qualifying`), and the same validators run the RACE runs
   until the race is RACE_COMPLETE. A completed race is reused when the demo runs again.
7. Prints the weights a validator would set after that race (`proctor validator weights`: ORO's
   weight-setter reads; the demo burns 75 % to UID 0 as ORO does), and where to look. Then it keeps
   the server in the foreground until Ctrl-C (`--exit-after` stops it instead).

Nothing outside the demo folder is touched: every `PROCTOR_*` variable of the caller's environment
is dropped for the child, so a configured production database or Redis is never used. Running the
demo again reuses the folder (the agent is not submitted twice); `--reset` starts from scratch.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer
import yaml
from bittensor_wallet import Keypair
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from proctor.cli import miner
from proctor.cli.common import console, err_console
from proctor.cli.validator import print_weights
from proctor.validator import weights as race_weights
from proctor.validator.evaluator import SandboxEvaluator
from proctor.validator.loop import LoopConfig, ValidatorLoop
from proctor.validator.report import RichReporter
from proctor.validator.sandbox import SandboxLimits

MARKER = ".proctor-demo"
AGENT_NAME = "demo-agent"
MINER_URI = "//Bob"
VALIDATOR_URIS = ("//Alice", "//Charlie")
SERVER_START_SECONDS = 60.0


class DemoError(RuntimeError):
    pass


def registry_document() -> dict[str, Any]:
    """The demo's registry: one miner and two validators with permits, all development keys."""
    neurons: list[dict[str, Any]] = [{"hotkey": Keypair.create_from_uri(MINER_URI).ss58_address, "uid": 1}]
    for uid, uri in enumerate(VALIDATOR_URIS, start=10):
        neurons.append(
            {
                "hotkey": Keypair.create_from_uri(uri).ss58_address,
                "uid": uid,
                "validator_permit": True,
                "stake": 1000.0,
            }
        )
    return {"netuid": 15, "neurons": neurons}


def server_environment(data_dir: Path) -> dict[str, str]:
    """The caller's environment without any PROCTOR_* setting, plus the demo's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTOR_")}
    env.update(
        {
            "PROCTOR_ENV": "dev",
            "PROCTOR_DATA_DIR": str(data_dir),
            "PROCTOR_REGISTRY": str(data_dir / "registry.yaml"),
            "PROCTOR_RATE_LIMIT_GLOBAL": "100000/minute",
            "PROCTOR_SUBMISSION_COOLDOWN_SECONDS": "60",
            "PROCTOR_REGISTRY_REFRESH_SECONDS": "1",
            "PROCTOR_LOG_LEVEL": "WARNING",
            "PROCTOR_TOP_EMISSION_WEIGHT": "0.25",  # ORO's split: the rest is burned to UID 0
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@contextlib.contextmanager
def demo_file(name: str) -> Iterator[Path]:
    """A file shipped in `proctor/data/demo/`, as a path (works from an installed package)."""
    resource = importlib.resources.files("proctor").joinpath("data", "demo", name)
    with importlib.resources.as_file(resource) as path:
        yield path


def prepare_folder(data_dir: Path, *, reset: bool) -> None:
    if reset and data_dir.exists():
        if not (data_dir / MARKER).exists():
            raise DemoError(f"{data_dir} exists and is not a proctor demo folder; refusing to delete it")
        shutil.rmtree(data_dir)
    if data_dir.exists() and any(data_dir.iterdir()) and not (data_dir / MARKER).exists():
        raise DemoError(
            f"{data_dir} is not empty and is not a proctor demo folder; choose another --data-dir"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / MARKER).write_text("created by `proctor demo`; safe to delete\n")
    (data_dir / "registry.yaml").write_text(yaml.safe_dump(registry_document(), sort_keys=False))


def admin(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`proctor admin …` on the demo's own database (the same commands an operator types)."""
    return subprocess.run(
        [sys.executable, "-m", "proctor", "admin", *args],
        env={**env, "COLUMNS": "200"},
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def import_suite(env: dict[str, str], data_dir: Path) -> str:
    with demo_file("suite.json") as suite:
        done = admin(env, data_dir, "suite", "import", str(suite), "--activate", "--name", "proctor-demo")
    if done.returncode != 0:
        raise DemoError(f"suite import failed:\n{done.stdout}{done.stderr}")
    return " ".join(done.stdout.split())


def start_race_bank_import(env: dict[str, str], data_dir: Path, suite_id: int) -> subprocess.Popen[str]:
    """Import the suite's hidden race bank in the background (it overlaps the qualifying runs)."""
    with demo_file("race_bank.json") as bank:
        copy = data_dir / "race_bank.json"  # the resource may be a temporary file
        shutil.copyfile(bank, copy)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proctor",
            "admin",
            "race",
            "import-bank",
            str(copy),
            "--suite-id",
            str(suite_id),
        ],
        env={**env, "COLUMNS": "200"},
        cwd=data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish_race_bank_import(process: subprocess.Popen[str]) -> str:
    """The import's outcome (a bank imported by an earlier demo run is kept)."""
    output, _ = process.communicate(timeout=120)
    if process.returncode != 0:
        if "already has a race bank" in output:
            return "already imported"
        raise DemoError(f"race bank import failed:\n{output}")
    return " ".join(output.split())


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free_port(host: str, port: int) -> None:
    if not port_is_free(host, port):
        raise DemoError(f"port {port} on {host} is in use; pick another with --port")


def start_server(env: dict[str, str], data_dir: Path, host: str, port: int) -> subprocess.Popen[bytes]:
    require_free_port(host, port)  # again: it may have been taken since the demo started
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "proctor", "serve", "--host", host, "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the demo, which then stops the server in order
    )
    log.close()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"proctor serve exited early; see {data_dir / 'server.log'}:\n{_tail(data_dir)}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(process)
    raise DemoError(f"proctor serve did not answer /health within {SERVER_START_SECONDS:g}s")


def _tail(data_dir: Path) -> str:
    path = data_dir / "server.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def submit_agent(url: str, out: Console) -> str:
    """The demo agent's version id: the one already there, or a fresh submission from //Bob."""
    bob = Keypair.create_from_uri(MINER_URI)
    listing = miner.agents(url, bob)
    if listing.status == 200 and isinstance(listing.body, dict):
        for agent in listing.body.get("agents") or []:
            latest = agent.get("latest_version") or {}
            if agent.get("agent_name") == AGENT_NAME and latest.get("agent_version_id"):
                out.print(f"  {AGENT_NAME} is already submitted (state {latest.get('state')}); reusing it")
                return str(latest["agent_version_id"])
    with demo_file("agent.py") as path:
        content = path.read_bytes()
    reply = miner.submit(url, bob, content, name=AGENT_NAME, filename="agent.py")
    if not reply.accepted:
        miner.print_verdict(reply, out, dry_run=False)
        raise DemoError("the sample agent was not accepted")
    body = reply.body if isinstance(reply.body, dict) else {}
    out.print(f"  [green]✓ accepted[/green]  agent_version_id {body.get('agent_version_id')}")
    return str(body["agent_version_id"])


def version_state(url: str, version_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/public/agent-versions/{version_id}/status", timeout=10.0)
    response.raise_for_status()
    body = response.json()
    return body if isinstance(body, dict) else {}


def validator_round(url: str, work_root: Path, out: Console, *, deadline: float) -> int:
    """Run each demo validator once, together; returns how many runs they recorded."""
    limits = SandboxLimits(wall_seconds=60, cpu_seconds=60, memory_mb=1024)
    loops = [
        ValidatorLoop(
            LoopConfig(
                url=url,
                once=True,
                poll_interval=1.0,
                heartbeat_interval=5.0,
                progress_interval=2.0,
                run_timeout=max(30.0, deadline - time.monotonic()),
                workers=2,
                work_root=work_root,
            ),
            Keypair.create_from_uri(uri),
            SandboxEvaluator(limits, work_root=work_root),
            RichReporter(out, label=uri.strip("/").lower()),
        )
        for uri in VALIDATOR_URIS
    ]
    threads = [threading.Thread(target=loop.run, name="demo-validator", daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))
    return sum(len(loop.runs) for loop in loops)


def run_validators(
    url: str, version_id: str, work_root: Path, out: Console, *, deadline: float
) -> dict[str, Any]:
    """Run the demo validators until the version is ELIGIBLE (or time runs out)."""
    state = version_state(url, version_id)
    while state.get("state") not in ("ELIGIBLE", "DISCARDED", "CANCELLED"):
        if time.monotonic() > deadline:
            raise DemoError(f"the agent is still {state.get('state')} after the demo's time limit")
        recorded = validator_round(url, work_root, out, deadline=deadline)
        state = version_state(url, version_id)
        if state.get("state") not in ("ELIGIBLE", "DISCARDED", "CANCELLED") and not recorded:
            raise DemoError(
                f"the agent is {state.get('state')} and no demo validator could claim a run "
                f"({state.get('success_count')}/{state.get('required_successes')} successes)"
            )
    if state.get("state") != "ELIGIBLE":
        raise DemoError(f"the agent ended {state.get('state')}; see the runs for the failure reasons")
    return state


def current_race(url: str) -> dict[str, Any] | None:
    response = httpx.get(f"{url}/v1/public/races/current", timeout=10.0)
    response.raise_for_status()
    race = response.json().get("race")
    return race if isinstance(race, dict) else None


def run_race(
    env: dict[str, str], data_dir: Path, url: str, work_root: Path, out: Console, *, deadline: float
) -> dict[str, Any]:
    """Close qualifying (unless a race is running or already complete) and run the demo validators on
    the RACE runs until the race is RACE_COMPLETE. Returns the race."""
    race = current_race(url)
    if race is not None and race.get("status") == "RACE_COMPLETE":
        out.print(f"  race {race.get('race_number')} is already complete; reusing it")
        return race
    if race is None or race.get("status") != "RACE_RUNNING":
        done = admin(env, data_dir, "race", "close-qualifying")
        if done.returncode != 0:
            raise DemoError(f"closing qualifying failed:\n{done.stdout}{done.stderr}")
        out.print("  " + done.stdout.splitlines()[0] if done.stdout else "  qualifying closed")
        race = current_race(url)
        assert race is not None, "close-qualifying started a race"
    while race.get("status") == "RACE_RUNNING":
        if time.monotonic() > deadline:
            raise DemoError(f"race {race.get('race_number')} is still running after the demo's time limit")
        recorded = validator_round(url, work_root, out, deadline=deadline)
        race = current_race(url) or race
        if race.get("status") == "RACE_RUNNING" and not recorded:
            raise DemoError("the race is running and no demo validator could claim a race run")
    if race.get("status") != "RACE_COMPLETE":
        raise DemoError(f"race {race.get('race_number')} ended {race.get('status')}")
    return race


def print_summary(
    url: str, version_id: str, state: dict[str, Any], race: dict[str, Any], data_dir: Path, out: Console
) -> None:
    board = httpx.get(f"{url}/v1/public/leaderboard", timeout=10.0).json()
    table = Table("rank", "agent", "miner", "final score", title="leaderboard", title_justify="left")
    for entry in board.get("entries", [])[:5]:
        table.add_row(
            str(entry["rank"]),
            escape(str(entry["agent_name"])),
            str(entry["miner_hotkey"])[:10] + "…",
            f"{float(entry['final_score']):.4f}",
        )
    out.print(table)
    with httpx.Client(base_url=url, timeout=10.0) as http:
        found = race_weights.read(http)
    out.print(
        f"[bold green]race {race.get('race_number')} is RACE_COMPLETE[/bold green], winner "
        f"{escape(str(race.get('winner_agent_name')))} race score {race.get('winner_score')}"
    )
    print_weights(found, out)
    vid, rid = version_id, race.get("race_id")
    links = [
        ("dashboard", f"{url}/"),
        ("agent page", f"{url}/dashboard/agents/{vid}"),
        ("leaderboard (JSON)", f"{url}/v1/public/leaderboard"),
        ("top agent", f"{url}/v1/public/top"),
        ("race (JSON)", f"{url}/v1/public/races/{rid}"),
        ("race history", f"{url}/v1/public/races/history"),
        ("agent status", f"{url}/v1/public/agent-versions/{vid}/status"),
        ("per-problem matrix", f"{url}/v1/public/agent-versions/{vid}/problems"),
        ("validator runs", f"{url}/v1/public/agent-versions/{vid}/runs"),
        ("validators", f"{url}/v1/public/validators"),
        ("API docs", f"{url}/docs"),
    ]
    out.print(f"[bold green]{AGENT_NAME} is ELIGIBLE[/bold green], final score {state.get('final_score')}")
    out.print("\n[bold]Where to look[/bold]")
    for label, link in links:
        out.print(f"  {label:<19} {link}", soft_wrap=True)
    out.print("\n[bold]Try[/bold]")
    for command in (
        f"proctor miner status --url {url} --uri {MINER_URI}",
        f"proctor miner submit my_agent.py --name my-agent --check --url {url} --uri {MINER_URI}",
        f"proctor validator run --url {url} --uri {VALIDATOR_URIS[0]}",
        f"proctor validator weights --url {url}",
    ):
        out.print(f"  {command}", soft_wrap=True, highlight=False)
    out.print(f"\n[dim]data and server log in {data_dir} (delete it, or use --reset, to start over)[/dim]")


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Folder for the demo's database, blobs, registry and log.")
    ] = Path(".proctor-demo"),
    port: Annotated[int, typer.Option("--port", help="Port for the demo server.")] = 8000,
    host: Annotated[str, typer.Option("--host", help="Interface for the demo server.")] = "127.0.0.1",
    exit_after: Annotated[
        bool, typer.Option("--exit-after", help="Stop the server once the agent is ELIGIBLE (for scripts).")
    ] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Delete the demo folder first.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=10.0, help="Give up if the agent is not ELIGIBLE by then (s).")
    ] = 300.0,
) -> None:
    """A self-contained run: sample suite, dev keys, a miner submitting, validators evaluating."""
    started = time.monotonic()
    data_dir = data_dir.expanduser().resolve()
    url = f"http://{host}:{port}"
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_on_sigterm)
    server: subprocess.Popen[bytes] | None = None
    try:
        require_free_port(host, port)  # before the suite import: a busy port fails at once
        prepare_folder(data_dir, reset=reset)
        env = server_environment(data_dir)
        console.print(f"[bold]proctor demo[/bold] in {data_dir}")
        console.print(f"[1/6] importing the sample suite: {import_suite(env, data_dir)}")
        console.print(f"[2/6] starting proctor serve on {url} (log: {data_dir / 'server.log'})")
        server = start_server(env, data_dir, host, port)
        console.print(
            f"      [bold]dashboard: {url}/[/bold] (open it to watch the evaluation live)", soft_wrap=True
        )
        console.print(f"[3/6] miner {MINER_URI} submits the sample agent as {AGENT_NAME!r}")
        version_id = submit_agent(url, console)
        suite_id = int(httpx.get(f"{url}/v1/public/suites/current", timeout=10.0).json()["suite_id"])
        bank = start_race_bank_import(env, data_dir, suite_id)
        console.print(f"[4/6] validators {' and '.join(VALIDATOR_URIS)} evaluate it (qualifying)")
        sandboxes = data_dir / "sandbox"
        sandboxes.mkdir(exist_ok=True)
        try:
            state = run_validators(url, version_id, sandboxes, console, deadline=started + timeout)
        except BaseException:
            bank.kill()
            bank.wait()
            raise
        imported = finish_race_bank_import(bank)
        console.print(
            f"[5/6] the race: hidden race bank {imported}; qualifying closes and the validators run the race"
        )
        race = run_race(env, data_dir, url, sandboxes, console, deadline=started + timeout)
        console.print(f"[6/6] done in {time.monotonic() - started:.1f}s\n")
        print_summary(url, version_id, state, race, data_dir, console)
        if exit_after:
            return
        console.print(f"\n[bold]proctor is running at {url}[/bold] — press Ctrl-C to stop it.")
        code = server.wait()
        err_console.print(f"[red]the server stopped (exit {code}); see {data_dir / 'server.log'}[/red]")
        raise typer.Exit(1)
    except DemoError as exc:
        err_console.print(f"[red]demo failed:[/red] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("\nstopping…")
    finally:
        if server is not None:
            stop_server(server)
