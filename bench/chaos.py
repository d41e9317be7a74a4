"""Chaos: a mixed load against two `proctor serve` replicas while faults are injected one at a time.

    python -m bench.chaos                 # about 5 minutes: every fault once, then the verifier
    python -m bench.chaos --short         # a bounded version (2–3 minutes)

Everything runs on PRIVATE services the script starts and removes itself, never the shared ones: a
PostgreSQL cluster (initdb on a free port, as the `postgres` user when run as root), a Redis server
without persistence, and moto's S3 server behind a small TCP proxy that can add delay. Two replicas
(`proctor serve`, surfaces oro, pool and compute) share all three.

The load, every request sent to one replica or the other in turn and retried on the other while it
fails (as a client behind a load balancer would):
- ORO validators: claim → heartbeat → progress (every problem) → complete; some abandon their run;
- ORO miners: submit an agent (stored in S3), then probe the cooldown and a nonce on the other replica;
- compute: a client creates jobs, miners accept → heartbeat → complete (the documented compute API);
- Pool miners: lease → submit_lease; some abandon their lease;
- public reads (leaderboard, top).

Faults, one at a time with the load settling in between: `kill -9` of a replica then a restart, a
PostgreSQL restart (fast shutdown), a Redis restart, the database paused (SIGSTOP of the postmaster
and every backend for 5 s), and a slow blob store (the proxy holds each S3 exchange for 1.5 s).

Every acknowledged (2xx) write is logged; afterwards the verifier reads the database and counts:
acknowledged writes missing, work held by two owners at once (from the clients' view: an owner's
acknowledged claim and another owner's later acknowledged use of the same lease overlap; and in the
database), orphaned leases not returned within one reaper period, runs/jobs/leases stuck live after
their expiry, cooldowns and nonces that the other replica let through. It prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import yaml
from bittensor_wallet import Keypair
from rich.table import Table

from bench._common import console, free_port, process_tree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.agents import valid_agent  # noqa: E402
from tests.support.signing import oro_headers  # noqa: E402

EVAL_LEASE_SECONDS = 10
REAPER_SECONDS = 2.0
POOL_LEASE_SECONDS = 10
SLOW_BLOB_DELAY = 1.5
PAUSE_SECONDS = 5.0
SLOW_BLOB_SECONDS = 8.0
REQUEST_TIMEOUT = 15.0
OP_DEADLINE = 60.0  # a client keeps retrying one operation this long
LATE_SLACK = 1.5  # seconds beyond one reaper period an orphan may take (tick jitter, a slow statement)
# An orphan later than this fails the run: a tick that failed (the database just came back) or was
# skipped (another replica held the job's lock) costs one more period; beyond that the reaper is broken.
FAIL_AFTER = 2 * REAPER_SECONDS + LATE_SLACK


# --- private services -------------------------------------------------------------------------------


def _pg_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError("no PostgreSQL server binaries (initdb) on this machine")


def services_available() -> str | None:
    """Why the private services cannot be started here, or None when they can."""
    try:
        _pg_bin()
    except RuntimeError as exc:
        return str(exc)
    if not shutil.which("redis-server"):
        return "no redis-server on this machine"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user for initdb"
    return None


class PrivatePostgres:
    """A throw-away cluster on a free port, owned by `postgres` when we are root."""

    def __init__(self, root: Path) -> None:
        self.bin = _pg_bin()
        self.dir = root / "pg"
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(_quote(a) for a in command)]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o", options, action, *extra
        )

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/proctor"


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


class PrivateRedis:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.dir = root / "redis"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _wait_port(port: int, timeout: float = 120, proc: subprocess.Popen[bytes] | None = None) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class SlowS3:
    """moto's S3 server in a child process behind a TCP proxy whose delay a file sets."""

    def __init__(self, root: Path) -> None:
        self.delay_file = root / "s3-delay"
        self.delay_file.write_text("0")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "s3.log"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.chaos", "--serve-s3", str(self.port), str(self.delay_file)],
            cwd=ROOT,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_port(self.port, proc=self.proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{self.log.read_text()[-4000:]}") from None

    def slow(self, seconds: float) -> None:
        self.delay_file.write_text(str(seconds))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def serve_s3(port: int, delay_file: Path) -> None:
    """The child process: moto on a free port, a delaying proxy on `port`."""
    from tests.support.s3 import running_s3_server

    delay = 0.0

    async def watch() -> None:
        nonlocal delay
        while True:
            try:
                delay = float(delay_file.read_text() or 0)
            except (OSError, ValueError):
                pass
            await asyncio.sleep(0.2)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hold: bool) -> None:
        try:
            while data := await reader.read(65536):
                if hold and delay:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def main(host: str, upstream: int) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(host, upstream)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))

        asyncio.get_running_loop().create_task(watch())
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    with running_s3_server() as s3:
        target = httpx.URL(s3.endpoint_url)
        asyncio.run(main(target.host, target.port or 80))


# --- replicas --------------------------------------------------------------------------------------------


class Replica:
    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = env
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proctor", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-4000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become healthy:\n{self.log.read_text()[-4000:]}")

    def kill9(self) -> None:
        if self.proc:
            for pid in reversed(process_tree(self.proc.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()


# --- bookkeeping ------------------------------------------------------------------------------------------


@dataclass
class Hold:
    """One owner's lease on one resource, as the owner saw it."""

    owner: str
    lease: str
    claimed: float  # the claim's answer arrived (the lease existed by then)
    last_used: float | None = None  # the latest acknowledged use was sent (the lease was live after)


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0
    outage: float = 0.0  # longest a client operation took to succeed, started in this fault's window
    slowest: str = ""
    failed_ops: int = 0  # operations that never succeeded within OP_DEADLINE
    wall: tuple[float, float] = (0.0, 0.0)  # the same window in wall-clock seconds (the database's clock)


@dataclass
class Ledger:
    statuses: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    acked: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    holds: dict[str, list[Hold]] = field(default_factory=lambda: defaultdict(list))
    abandoned: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    violations: Counter[str] = field(default_factory=Counter)
    faults: list[Fault] = field(default_factory=list)
    baseline_outage: float = 0.0
    baseline_failed: int = 0
    baseline_slowest: str = ""
    samples: list[str] = field(default_factory=list)  # a few 400/500 answers, for the operator
    probes: Counter[str] = field(default_factory=Counter)  # expected refusals of the cooldown/nonce probes

    def ack(self, kind: str, *values: Any) -> None:
        self.acked[kind].append(values)

    def outage(self, started: float, seconds: float, gave_up: bool, what: str) -> None:
        """An operation (all its attempts) took `seconds` from its first attempt; the fault whose window
        (injection until 5 s after it ended) it started in is charged."""
        for fault in self.faults:
            if fault.started - seconds <= started <= (fault.ended or time.monotonic()) + 5:
                if seconds > fault.outage:
                    fault.outage, fault.slowest = seconds, what
                fault.failed_ops += gave_up
                return
        if seconds > self.baseline_outage:
            self.baseline_outage, self.baseline_slowest = seconds, what
        self.baseline_failed += gave_up


def route_of(path: str) -> str:
    """A path with its ids replaced by `{id}` (the route, for the report)."""
    parts = path.split("?")[0].split("/")
    return "/".join("{id}" if len(p) >= 16 and any(c.isdigit() for c in p) else p for p in parts)


class Client:
    """One actor's HTTP: alternates replicas per request, retries a failing operation on the other."""

    def __init__(self, urls: list[str], ledger: Ledger) -> None:
        self.urls = urls
        self.ledger = ledger
        self.turn = random.randrange(len(urls))
        limits = httpx.Limits(max_connections=4, keepalive_expiry=2)
        self.http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits)

    async def once(
        self, method: str, path: str, *, replica: int | None = None, probe: bool = False, **kwargs: Any
    ) -> tuple[int, Any]:
        """One attempt; (status, decoded body) with status 0 for a connection failure."""
        index = self.turn if replica is None else replica
        self.turn = (self.turn + 1) % len(self.urls)
        self.ledger.requests += 1
        if callable(kwargs.get("headers")):
            kwargs["headers"] = kwargs["headers"]()
        try:
            response = await self.http.request(method, self.urls[index] + path, **kwargs)
        except httpx.HTTPError as exc:
            self.ledger.statuses[f"conn:{type(exc).__name__}"] += 1
            return 0, None
        if response.status_code in (400, 500) and len(self.ledger.samples) < 10:
            self.ledger.samples.append(
                f"{response.status_code} {method} {route_of(path)}: {response.text[:200]}"
            )
        if response.status_code >= 400:
            (self.ledger.probes if probe else self.ledger.statuses)[str(response.status_code)] += 1
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return response.status_code, body

    async def op(
        self,
        method: str,
        path: str,
        *,
        retry: Callable[[int], bool] = lambda status: status == 0 or status >= 500,
        **kwargs: Any,
    ) -> tuple[int, Any, float]:
        """Retry while `retry(status)`; (status, body, first attempt's send time)."""
        first = time.monotonic()
        what = f"{method} {route_of(path)}"
        while True:
            status, body = await self.once(method, path, **kwargs)
            now = time.monotonic()
            if not retry(status):
                self.ledger.outage(first, now - first, gave_up=False, what=what)
                return status, body, first
            if now - first > OP_DEADLINE:
                self.ledger.outage(first, now - first, gave_up=True, what=what)
                return status, body, first
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self.http.aclose()


# --- the actors -------------------------------------------------------------------------------------------


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less when the load stops."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def oro_validator(
    client: Client, key: Keypair, problems: list[str], stop: asyncio.Event, abandon: float
) -> None:
    ledger, me = client.ledger, key.ss58_address

    def signed() -> dict[str, str]:
        return oro_headers(key)

    while not stop.is_set():
        status, body, _ = await client.op(
            "POST", "/v1/validator/work/claim", json={"cpu_pct": 5.0}, headers=signed
        )
        if status != 200:
            await asyncio.sleep(0.5)
            continue
        run, version = body["eval_run_id"], body["agent_version_id"]
        hold = Hold(me, run, time.monotonic())
        ledger.holds[f"oro:{version}"].append(hold)
        if random.random() < abandon:
            ledger.abandoned["oro"].append(run)  # the validator dies: no heartbeat, no completion
            await pause(stop, EVAL_LEASE_SECONDS + 2 * REAPER_SECONDS)
            continue
        base = f"/v1/validator/evaluation-runs/{run}"
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("heartbeat", "/heartbeat", {"ram_pct": 20.0}),
            (
                "progress",
                "/progress",
                {"problems": [{"problem_id": p, "status": "SUCCESS", "score": 0.5} for p in problems]},
            ),
        ]
        score = round(random.random(), 6)
        steps.append(("complete", "/complete", {"terminal_status": "SUCCESS", "validator_score": score}))
        for name, suffix, payload in steps:
            status, _, sent = await client.op("POST", base + suffix, json=payload, headers=signed)
            if status != 200:
                break  # lease lost (409) or the service stayed down: give the run up
            hold.last_used = sent
            ledger.ack(f"oro.{name}", run, score if name == "complete" else None)
            await asyncio.sleep(random.uniform(0.05, 0.3))


async def oro_miner(client: Client, keys: list[Keypair], stop: asyncio.Event, gap: float) -> None:
    ledger = client.ledger
    for key in keys:
        if stop.is_set():
            return
        replica = client.turn
        files = {"file": ("agent.py", valid_agent(), "text/x-python")}

        def signed(key: Keypair = key) -> dict[str, str]:
            return oro_headers(key)

        status, body, _ = await client.op(
            "POST", "/v1/miner/submit", data={"agent_name": "chaos"}, files=files, headers=signed
        )
        if status == 200 and body.get("agent_version_id"):
            ledger.ack("oro.submit", body["agent_version_id"], key.ss58_address)
            # The cooldown holds on the other replica.
            again = {"file": ("agent.py", valid_agent(), "text/x-python")}
            status, _ = await client.once(
                "POST",
                "/v1/miner/submit",
                replica=1 - replica,
                data={"agent_name": "chaos"},
                files=again,
                headers=signed(),
                probe=True,
            )
            if status == 200:
                ledger.violations["cooldown bypassed on the other replica"] += 1
            ledger.violations["cooldown probes"] += 0
        # A nonce used on one replica is refused by the other.
        headers = signed()
        first, _ = await client.once("GET", "/v1/miner/agents", replica=0, headers=headers)
        if first == 200:
            second, _ = await client.once("GET", "/v1/miner/agents", replica=1, headers=headers, probe=True)
            ledger.acked["nonce probes"].append((second,))
            if 200 <= second < 300:
                ledger.violations["nonce replayed on the other replica"] += 1
        await asyncio.sleep(gap)


async def compute_client(client: Client, api_key: str, stop: asyncio.Event, rate: float) -> None:
    n = 0
    while not stop.is_set():
        job = {
            "model": "gpt2",
            "gpu_type": "a100",
            "estimated_time": 60,
            "price": "0.05",
            "payload": {"n": n},
        }
        n += 1
        status, body, _ = await client.op("POST", "/v1/jobs", json=job, headers={"X-Api-Key": api_key})
        if status in (200, 201) and body:
            client.ledger.ack("compute.create", body["job_id"])
        await asyncio.sleep(1 / rate)


async def compute_miner(client: Client, index: int, stop: asyncio.Event) -> None:
    ledger = client.ledger
    offer = {"name": f"chaos-rig-{index}", "gpu_type": "a100", "price_per_hour": 1, "max_concurrent": 2}
    status, body, _ = await client.op("POST", "/v1/miners", json=offer)
    if status not in (200, 201):
        ledger.violations["compute miner could not register"] += 1
        return
    miner, key = body["miner_id"], body["api_key"]
    auth = {"Authorization": f"Bearer {key}"}
    base = f"/v1/miners/{miner}"
    while not stop.is_set():
        status, body, _ = await client.op("GET", base + "/jobs/available?limit=5", headers=auth)
        jobs = [j["job_id"] for j in (body or {}).get("jobs", [])] if status == 200 else []
        if not jobs:
            await asyncio.sleep(0.5)
            continue
        job = random.choice(jobs)
        status, _, _ = await client.op("POST", f"{base}/jobs/{job}/accept", headers=auth)
        if status != 200:
            continue  # another miner took it (409)
        hold = Hold(miner, job, time.monotonic())
        ledger.holds[f"compute:{job}"].append(hold)
        ledger.ack("compute.accept", job, miner)
        await asyncio.sleep(random.uniform(0.1, 0.4))
        status, _, sent = await client.op("POST", base + "/heartbeat", headers=auth)
        done = {
            "result_hash": "sha256:" + "ab" * 32,
            "metrics": {"execution_time_seconds": 1, "gpu_time_seconds": 1},
        }
        status, _, sent = await client.op("POST", f"{base}/jobs/{job}/complete", json=done, headers=auth)
        if status == 200:
            hold.last_used = sent
            ledger.ack("compute.complete", job, miner)


def pool_headers(key: Keypair) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"X-Key": key.ss58_address, "X-Timestamp": ts, "X-Signature": key.sign(f"auth:{ts}").hex()}


async def pool_miner(client: Client, key: Keypair, stop: asyncio.Event, abandon: float) -> None:
    ledger = client.ledger

    def signed() -> dict[str, str]:
        return pool_headers(key)

    await client.op("POST", "/api/v1/miners/register", json={}, headers=signed)
    n = 0
    while not stop.is_set():
        status, lease, _ = await client.op(
            "POST", "/api/v1/tasks/lease", json={"eval_batch_size": 4, "seed_batch_size": 4}, headers=signed
        )
        if status != 200:
            await asyncio.sleep(0.5)
            continue
        lease_id = lease["lease_id"]
        hold = Hold(key.ss58_address, lease_id, time.monotonic())
        ledger.holds[f"pool:{lease_id}"].append(hold)
        ledger.ack("pool.lease", lease_id)
        if random.random() < abandon:
            ledger.abandoned["pool"].append(lease_id)
            await pause(stop, POOL_LEASE_SECONDS + 2 * REAPER_SECONDS)
            continue
        n += 1
        body = {
            "evaluations": [
                {"algorithm_id": a["id"], "score": random.random()} for a in lease["evaluate_algorithms"]
            ],
            "evolutions": [{"parent_algorithm_ids": [], "algorithm_dsl": f"# {key.ss58_address} {n}\n"}],
            "iterations": 10,
        }
        await asyncio.sleep(random.uniform(0.1, 0.5))
        status, _, sent = await client.op(
            "POST", f"/api/v1/tasks/{lease_id}/submit_lease", json=body, headers=signed
        )
        if status == 200:
            hold.last_used = sent
            ledger.ack("pool.submit", lease_id)


async def reader(client: Client, stop: asyncio.Event) -> None:
    paths = ["/v1/public/leaderboard?limit=50", "/v1/public/top", "/health"]
    while not stop.is_set():
        await client.op("GET", random.choice(paths))
        await asyncio.sleep(0.2)


# --- setup ------------------------------------------------------------------------------------------------


async def prepare_database(url: str, work_items: int, seeds: int) -> tuple[int, str]:
    """Create and migrate the database, seed ORO work, Pool seeds and a compute client."""
    from bench.compute import issue_client
    from bench.evaluation import seed_work
    from bench.pool import import_seeds
    from proctor.config import Settings
    from proctor.storage import migrate

    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(plain.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute("CREATE DATABASE proctor")
    finally:
        await admin.close()
    await migrate.upgrade(Settings(database_url=url))
    suite_id = await seed_work(url, work_items)
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute("UPDATE work_items SET required_successes = 1")
    finally:
        await conn.close()
    await import_seeds(url, seeds)
    return suite_id, await issue_client(url)


# --- faults -----------------------------------------------------------------------------------------------


@dataclass
class World:
    pg: PrivatePostgres
    redis: PrivateRedis
    s3: SlowS3
    replicas: list[Replica]
    probe_key: Keypair  # a registered miner whose signed read is replayed across the Redis restart
    notes: dict[str, str] = field(default_factory=dict)


def _signal_tree(pid: int, sig: signal.Signals) -> None:
    for member in process_tree(pid):
        try:
            os.kill(member, sig)
        except ProcessLookupError:
            pass


def faults(world: World, which: list[str]) -> list[tuple[str, Callable[[], None]]]:
    def kill_replica() -> None:
        victim = world.replicas[0]
        victim.kill9()
        time.sleep(1)
        victim.start()

    def pause_database() -> None:
        pid = world.pg.postmaster_pid()
        _signal_tree(pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_SECONDS)
        finally:
            _signal_tree(pid, signal.SIGCONT)

    def slow_blobs() -> None:
        world.s3.slow(SLOW_BLOB_DELAY)
        try:
            time.sleep(SLOW_BLOB_SECONDS)
        finally:
            world.s3.slow(0)

    def redis_restart() -> None:
        # A nonce spent just before the restart, replayed on the other replica just after it. Informational:
        # Redis without persistence (as here) forgets spent nonces, so this is the operator's setting.
        headers = oro_headers(world.probe_key)
        before = httpx.get(
            world.replicas[0].url + "/v1/miner/agents", headers=headers, timeout=10
        ).status_code
        world.redis.restart()
        after = 0
        for _ in range(50):
            try:
                after = httpx.get(
                    world.replicas[1].url + "/v1/miner/agents", headers=headers, timeout=10
                ).status_code
            except httpx.HTTPError:
                after = 0
            if after != 503 and after:
                break
            time.sleep(0.2)
        world.notes["nonce replayed across the Redis restart (no persistence)"] = f"{before} then {after}"

    every = {
        "kill -9 replica + restart": kill_replica,
        "PostgreSQL restart": world.pg.restart,
        "Redis restart": redis_restart,
        f"database paused {PAUSE_SECONDS:.0f} s (SIGSTOP)": pause_database,
        f"slow blob store (+{SLOW_BLOB_DELAY} s per exchange)": slow_blobs,
    }
    return [(name, fn) for name, fn in every.items() if any(w in name.lower() for w in which)]


# --- the verifier ------------------------------------------------------------------------------------------


def overlapping_holds(holds: dict[str, list[Hold]]) -> list[str]:
    """Resources two owners provably held at once: each lease was live from its claim's answer until its
    last acknowledged use was sent; two such intervals overlapping is a double assignment."""
    doubles = []
    for resource, seen in holds.items():
        spans = [
            (h.claimed, h.last_used, h) for h in seen if h.last_used is not None and h.last_used > h.claimed
        ]
        for i, (a0, a1, a) in enumerate(spans):
            for b0, b1, b in spans[i + 1 :]:
                if a.lease != b.lease and a0 < b1 and b0 < a1:
                    doubles.append(resource)
    return doubles


async def verify(url: str, ledger: Ledger, *, late_periods: int = 2) -> dict[str, Any]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    lost: Counter[str] = Counter()
    acked = ledger.acked

    async def missing(kind: str, sql: str, ids: list[Any]) -> None:
        if not ids:
            return
        found = {str(r[0]) for r in await conn.fetch(sql, ids)}
        lost[kind] += sum(1 for i in ids if str(i) not in found)

    try:
        await missing(
            "oro.submit",
            "SELECT id FROM agent_versions WHERE id = ANY($1::uuid[])",
            [v for v, _ in acked["oro.submit"]],
        )
        await missing(
            "oro.heartbeat",
            "SELECT id FROM evaluation_runs WHERE id = ANY($1::uuid[]) AND last_heartbeat_at IS NOT NULL",
            [r for r, _ in acked["oro.heartbeat"]],
        )
        await missing(
            "oro.progress",
            "SELECT run_id FROM run_problem_results WHERE run_id = ANY($1::uuid[]) GROUP BY run_id",
            [r for r, _ in acked["oro.progress"]],
        )
        scores = {r: s for r, s in acked["oro.complete"]}
        if scores:
            rows = await conn.fetch(
                "SELECT id, status, validator_score FROM evaluation_runs WHERE id = ANY($1::uuid[])",
                list(scores),
            )
            good = {
                str(r["id"])
                for r in rows
                if r["status"] == "SUCCESS"
                and abs((r["validator_score"] or -1) - scores[str(r["id"])]) < 1e-9
            }
            lost["oro.complete"] += sum(1 for r in scores if r not in good)
        await missing(
            "compute.create",
            "SELECT id FROM compute_jobs WHERE id = ANY($1)",
            [j for (j,) in acked["compute.create"]],
        )
        accepted = acked["compute.accept"]
        if accepted:
            rows = await conn.fetch(
                "SELECT job_id, miner_id FROM compute_assignments WHERE job_id = ANY($1)",
                [j for j, _ in accepted],
            )
            pairs = {(r["job_id"], r["miner_id"]) for r in rows}
            lost["compute.accept"] += sum(1 for j, m in accepted if (j, m) not in pairs)
        completed = acked["compute.complete"]
        if completed:
            rows = await conn.fetch(
                "SELECT j.id, j.assigned_miner_id, j.state, (SELECT count(*) FROM compute_earnings e "
                "WHERE e.job_id = j.id) AS paid FROM compute_jobs j WHERE j.id = ANY($1)",
                [j for j, _ in completed],
            )
            good = {
                (r["id"], r["assigned_miner_id"])
                for r in rows
                if r["state"] == "COMPLETED" and r["paid"] == 1
            }
            lost["compute.complete"] += sum(1 for j, m in completed if (j, m) not in good)
        await missing(
            "pool.lease",
            "SELECT id FROM pool_assignments WHERE id = ANY($1::uuid[])",
            [lease for (lease,) in acked["pool.lease"]],
        )
        await missing(
            "pool.submit",
            "SELECT id FROM pool_assignments WHERE id = ANY($1::uuid[]) AND completed_at IS NOT NULL "
            "AND status <> 'EXPIRED'",
            [lease for (lease,) in acked["pool.submit"]],
        )

        # Double assignments in the database.
        in_db = {
            "ORO work item succeeded more than required": await conn.fetchval(
                "SELECT count(*) FROM work_items WHERE success_count > required_successes"
            ),
            "ORO run live twice for one work item": await conn.fetchval(
                "SELECT count(*) FROM (SELECT work_item_id FROM evaluation_runs WHERE status = 'SUCCESS' "
                "GROUP BY work_item_id HAVING count(*) > 1) x"
            ),
            "compute job completed by two miners": await conn.fetchval(
                "SELECT count(*) FROM (SELECT job_id FROM compute_assignments WHERE status = 'completed' "
                "GROUP BY job_id HAVING count(*) > 1) x"
            ),
            "compute job paid twice": await conn.fetchval(
                "SELECT count(*) FROM (SELECT job_id FROM compute_earnings GROUP BY job_id "
                "HAVING count(*) > 1) x"
            ),
        }

        # Orphans: returned within one reaper period of their expiry?
        period = timedelta(seconds=REAPER_SECONDS + LATE_SLACK)
        orphan_delays: list[float] = []
        late = very_late = 0
        late_detail: list[str] = []
        for table, ids, live in (
            ("evaluation_runs", ledger.abandoned["oro"], ("CLAIMED", "RUNNING")),
            ("pool_assignments", ledger.abandoned["pool"], ("ACTIVE",)),
        ):
            if not ids:
                continue
            rows = await conn.fetch(
                f"SELECT status, lease_expires_at, completed_at FROM {table} WHERE id = ANY($1::uuid[])", ids
            )
            for r in rows:
                if r["status"] in live or r["completed_at"] is None:
                    late += 1
                    very_late += 1
                    continue
                # A lease that lapsed while a fault was on can only be returned once it is over (the
                # database down or paused, say): one reaper period is counted from the later of the two.
                due = r["lease_expires_at"]
                for fault in ledger.faults:
                    if fault.wall[0] <= due.timestamp() <= fault.wall[1]:
                        due = datetime.fromtimestamp(fault.wall[1], tz=UTC)
                delay = r["completed_at"] - due
                orphan_delays.append(delay.total_seconds())
                late += delay > period
                if delay.total_seconds() > late_periods * REAPER_SECONDS + LATE_SLACK:
                    very_late += 1
                    late_detail.append(f"{table}: {delay.total_seconds():.1f} s after {due:%H:%M:%S}")

        now = await conn.fetchval("SELECT now()")
        grace = now - timedelta(seconds=REAPER_SECONDS + LATE_SLACK)
        stuck = {
            "ORO runs": await conn.fetchval(
                "SELECT count(*) FROM evaluation_runs WHERE status IN ('CLAIMED','RUNNING') "
                "AND lease_expires_at < $1",
                grace,
            ),
            "ORO work items active without a live run": await conn.fetchval(
                "SELECT count(*) FROM work_items w WHERE w.active_count <> "
                "(SELECT count(*) FROM evaluation_runs r "
                "WHERE r.work_item_id = w.id AND r.status IN ('CLAIMED','RUNNING'))"
            ),
            "compute assignments": await conn.fetchval(
                "SELECT count(*) FROM compute_assignments WHERE status = 'running' AND lease_expires_at < $1",
                grace,
            ),
            "Pool leases": await conn.fetchval(
                "SELECT count(*) FROM pool_assignments WHERE status = 'ACTIVE' AND lease_expires_at < $1",
                grace,
            ),
        }
    finally:
        await conn.close()
    return {
        "lost": lost,
        "doubles_db": in_db,
        "doubles_seen": overlapping_holds(ledger.holds),
        "orphans": len(orphan_delays) + 0,
        "orphan_max": max(orphan_delays, default=0.0),
        "late": late,
        "very_late": very_late,
        "late_detail": late_detail,
        "stuck": stuck,
    }


# --- the run ----------------------------------------------------------------------------------------------


@dataclass
class Plan:
    validators: int = 8
    miners: int = 40  # ORO miners, each submitting once
    compute_miners: int = 4
    pool_miners: int = 4
    readers: int = 2
    work_items: int = 3000
    settle: float = 15.0  # load alone before the first fault and between faults
    faults: list[str] = field(default_factory=lambda: ["kill", "postgresql", "redis", "paused", "slow"])
    # An orphan returned later than this many reaper periods (+ LATE_SLACK) after its expiry fails the
    # run (see FAIL_AFTER); every one later than one period is reported either way.
    late_periods: int = 2


async def run_load(
    world: World,
    plan: Plan,
    problems: list[str],
    api_key: str,
    keys: dict[str, list[Keypair]],
    ledger: Ledger,
) -> float:
    urls = [r.url for r in world.replicas]
    stop = asyncio.Event()
    clients: list[Client] = []

    def client() -> Client:
        clients.append(Client(urls, ledger))
        return clients[-1]

    tasks: list[Awaitable[None]] = []
    for k in keys["validators"]:
        tasks.append(oro_validator(client(), k, problems, stop, abandon=0.05))
    total = plan.settle * (len(plan.faults) + 1) + 30 * len(plan.faults)
    miners = keys["miners"]
    tasks.append(oro_miner(client(), miners[: len(miners) // 2], stop, gap=total / max(1, len(miners))))
    tasks.append(oro_miner(client(), miners[len(miners) // 2 :], stop, gap=total / max(1, len(miners))))
    tasks.append(compute_client(client(), api_key, stop, rate=6.0))
    tasks += [compute_miner(client(), i, stop) for i in range(plan.compute_miners)]
    tasks += [pool_miner(client(), k, stop, abandon=0.1) for k in keys["pool"]]
    tasks += [reader(client(), stop) for _ in range(plan.readers)]
    running = [asyncio.create_task(t) for t in tasks]  # type: ignore[arg-type]

    started = time.monotonic()
    await asyncio.sleep(plan.settle)
    for name, inject in faults(world, plan.faults):
        fault = Fault(name, time.monotonic())
        wall_started = time.time()
        ledger.faults.append(fault)
        console.print(f"[bold]fault[/]: {name}")
        await asyncio.to_thread(inject)
        fault.ended = time.monotonic()
        fault.wall = (wall_started, time.time())
        await asyncio.sleep(plan.settle)
    stop.set()
    # Let every in-flight operation finish (each gives up after OP_DEADLINE).
    await asyncio.wait(running, timeout=OP_DEADLINE + EVAL_LEASE_SECONDS + 10)
    for task in running:
        task.cancel()
    for c in clients:
        await c.close()
    return time.monotonic() - started


def report(ledger: Ledger, result: dict[str, Any], seconds: float) -> Table:
    t = Table(title=f"chaos: 2 replicas, PostgreSQL + Redis + S3, {seconds:.0f} s of mixed load")
    for column in ("fault", "at (UTC)", "max unavailability s", "slowest operation", "ops given up"):
        t.add_column(
            column, justify="right" if column in ("max unavailability s", "ops given up") else "left"
        )
    t.add_row(
        "(none: load alone)",
        "",
        f"{ledger.baseline_outage:.1f}",
        ledger.baseline_slowest,
        str(ledger.baseline_failed),
    )
    for f in ledger.faults:
        at = "–".join(time.strftime("%H:%M:%S", time.gmtime(w)) for w in f.wall)
        t.add_row(f.name, at, f"{f.outage:.1f}", f.slowest, str(f.failed_ops))
    return t


def summary(ledger: Ledger, result: dict[str, Any]) -> Table:
    t = Table(title="verifier")
    t.add_column("check")
    t.add_column("value", justify="right")
    t.add_row("faults injected", str(len(ledger.faults)))
    t.add_row("requests", f"{ledger.requests:,}")
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(ledger.statuses.items())) or "none"
    t.add_row("errors by status", errors)
    t.add_row("expected refusals (probes)", ", ".join(f"{k}: {v}" for k, v in sorted(ledger.probes.items())))
    writes = sum(len(v) for k, v in ledger.acked.items() if "." in k)
    t.add_row(
        "acknowledged writes",
        f"{writes:,}  ("
        + ", ".join(f"{k} {len(v)}" for k, v in sorted(ledger.acked.items()) if "." in k)
        + ")",
    )
    t.add_row(
        "lost acknowledged writes",
        str(sum(result["lost"].values()))
        + (f"  {dict(result['lost'])}" if sum(result["lost"].values()) else ""),
    )
    doubles = len(result["doubles_seen"]) + sum(result["doubles_db"].values())
    t.add_row(
        "double assignments",
        f"{doubles}  (clients' view {len(result['doubles_seen'])}, "
        f"database {sum(result['doubles_db'].values())})",
    )
    t.add_row(
        "orphaned leases (abandoned)",
        f"{result['orphans']}, latest returned "
        f"{result['orphan_max']:.1f} s after expiry (reaper period {REAPER_SECONDS:.0f} s)",
    )
    t.add_row(
        f"orphans returned after one period + {LATE_SLACK} s / after two (fails)",
        f"{result['late']} / {result['very_late']}",
    )
    t.add_row(
        "stuck live after expiry",
        str(sum(result["stuck"].values()))
        + (f"  {result['stuck']}" if sum(result["stuck"].values()) else ""),
    )
    t.add_row(
        "cooldown bypassed on the other replica",
        str(ledger.violations["cooldown bypassed on the other replica"]),
    )
    nonces = len(ledger.acked["nonce probes"])
    t.add_row(
        "nonce replayed on the other replica",
        f"{ledger.violations['nonce replayed on the other replica']} of {nonces}",
    )
    for note, value in result.get("notes", {}).items():
        t.add_row(note + " (informational)", value)
    return t


def verdict(ledger: Ledger, result: dict[str, Any]) -> list[str]:
    """What failed (empty: every property held)."""
    problems = []
    if sum(result["lost"].values()):
        problems.append(f"lost acknowledged writes: {dict(result['lost'])}")
    if result["doubles_seen"] or sum(result["doubles_db"].values()):
        problems.append(f"double assignments: {result['doubles_seen'][:5]} {result['doubles_db']}")
    if result["very_late"]:
        problems.append(f"{result['very_late']} orphaned leases returned late: {result['late_detail']}")
    if sum(result["stuck"].values()):
        problems.append(f"stuck: {result['stuck']}")
    server_errors = {
        k: v for k, v in (ledger.statuses + ledger.probes).items() if k.startswith("5") and k != "503"
    }
    if server_errors:
        problems.append(f"server errors other than a retryable 503: {server_errors}")
    for name in ("cooldown bypassed on the other replica", "nonce replayed on the other replica"):
        if ledger.violations[name]:
            problems.append(f"{name}: {ledger.violations[name]}")
    return problems


def chaos(plan: Plan, workdir: Path | None = None) -> tuple[Ledger, dict[str, Any], float]:
    root = Path(tempfile.mkdtemp(prefix="proctor-chaos-", dir=workdir))
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
    pg, redis, s3 = PrivatePostgres(root), PrivateRedis(root), SlowS3(root)
    replicas: list[Replica] = []
    try:
        pg.start()
        redis.start()
        s3.start()
        suite_id, api_key = asyncio.run(prepare_database(pg.url, plan.work_items, 200))
        from bench.evaluation import problem_ids

        problems = asyncio.run(problem_ids(pg.url, suite_id))
        keys = {
            "validators": [Keypair.create_from_uri(f"//chaos-validator-{i}") for i in range(plan.validators)],
            "miners": [
                Keypair.create_from_uri(f"//chaos-miner-{uuid.uuid4().hex}") for _ in range(plan.miners)
            ],
            "pool": [Keypair.create_from_uri(f"//chaos-pool-{i}") for i in range(plan.pool_miners)],
        }
        neurons = [
            {"hotkey": k.ss58_address, "validator_permit": True, "stake": 100.0} for k in keys["validators"]
        ]
        probe_key = Keypair.create_from_uri("//chaos-nonce-probe")
        neurons += [{"hotkey": k.ss58_address} for k in [*keys["miners"], *keys["pool"], probe_key]]
        registry = root / "registry.yaml"
        registry.write_text(yaml.safe_dump({"netuid": 15, "neurons": neurons}))
        from tests.support.s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PROCTOR_DATABASE_URL": pg.url,
            "PROCTOR_REDIS_URL": redis.url,
            "PROCTOR_BLOB_URL": "s3://proctor-chaos",
            "PROCTOR_S3_ENDPOINT_URL": s3.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PROCTOR_SECRET_KEY": "chaos-secret-key-chaos-secret-key",
            "PROCTOR_REGISTRY": str(registry),
            "PROCTOR_SURFACES": "oro,pool,compute",
            "PROCTOR_LOG_LEVEL": "WARNING",
            "PROCTOR_RATE_LIMIT_GLOBAL": "10000000/minute",
            "PROCTOR_RATE_LIMIT_SUBMIT": "10000/minute",
            "PROCTOR_SUBMISSION_WORKERS": "0",
            "PROCTOR_EVAL_REQUIRED_SUCCESSES": "1",
            "PROCTOR_EVAL_LEASE_SECONDS": str(EVAL_LEASE_SECONDS),
            "PROCTOR_REAPER_INTERVAL_SECONDS": str(REAPER_SECONDS),
            "PROCTOR_POOL_ENFORCE_WINDOW": "false",
            "PROCTOR_POOL_LEASE_SECONDS": str(POOL_LEASE_SECONDS),
            "PROCTOR_POOL_REAPER_INTERVAL_SECONDS": str(REAPER_SECONDS),
            "PROCTOR_COMPUTE_AUTO_APPROVE": "true",
            "PROCTOR_COMPUTE_RATE_LIMIT_REQUESTS": "100000000/minute",
            "PROCTOR_COMPUTE_RATE_LIMIT_JOB_OPS": "100000000/minute",
            "PROCTOR_COMPUTE_RATE_LIMIT_CLIENT": "100000000/minute",
            "PROCTOR_COMPUTE_RATE_LIMIT_REGISTER": "100000000/minute",
            "PROCTOR_COMPUTE_HEARTBEAT_TIMEOUT_SECONDS": "3600",
            "PROCTOR_DB_POOL_SIZE": "8",
            "PROCTOR_DB_POOL_OVERFLOW": "4",
            "PROCTOR_DB_POOL_TIMEOUT_SECONDS": "5",
        }
        for name in ("replica-a", "replica-b"):
            replicas.append(Replica(name, env, root))
        for replica in replicas:
            replica.start()
        world = World(pg, redis, s3, replicas, probe_key)
        ledger = Ledger()
        seconds = asyncio.run(run_load(world, plan, problems, api_key, keys, ledger))
        time.sleep(max(EVAL_LEASE_SECONDS, POOL_LEASE_SECONDS) + 2 * REAPER_SECONDS)  # the last orphans lapse
        result = asyncio.run(verify(pg.url, ledger, late_periods=plan.late_periods))
        result["notes"] = world.notes
        return ledger, result, seconds
    finally:
        for replica in replicas:
            replica.stop()
        s3.stop()
        redis.stop()
        pg.stop()
        if not os.environ.get("CHAOS_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            console.print(f"kept {root}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-s3":
        serve_s3(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="the bounded version the slow test runs")
    parser.add_argument("--settle", type=float, default=None, help="seconds of load between faults")
    parser.add_argument("--faults", default="kill,postgresql,redis,paused,slow")
    args = parser.parse_args()
    plan = Plan(faults=args.faults.split(","))
    if args.short:
        plan = Plan(
            validators=6,
            miners=16,
            compute_miners=3,
            pool_miners=3,
            work_items=1000,
            settle=8.0,
            faults=plan.faults,
        )
    if args.settle is not None:
        plan.settle = args.settle
    ledger, result, seconds = chaos(plan)
    console.print(report(ledger, result, seconds))
    console.print(summary(ledger, result))
    for sample in ledger.samples:
        console.print(f"sample answer: {sample}")
    problems = verdict(ledger, result)
    for problem in problems:
        console.print(f"[red]FAILED[/]: {problem}")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
