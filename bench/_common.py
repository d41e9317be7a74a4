"""Shared bits for the benchmark scripts: a live server to measure, latency maths, RSS, tables."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 160)  # piped output keeps its columns


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """`proctor serve` in a child process with benchmark-friendly limits."""

    def __init__(
        self, env: dict[str, str] | None = None, neurons: list[dict[str, object]] | None = None
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="proctor-bench-"))
        registry = self.tmp / "registry.yaml"
        registry.write_text(yaml.safe_dump({"netuid": 15, "neurons": neurons or []}))
        self.port = free_port()
        self.env = {
            **os.environ,
            "PROCTOR_DATA_DIR": str(self.tmp / "data"),
            "PROCTOR_REGISTRY": str(registry),
            "PROCTOR_RATE_LIMIT_GLOBAL": "10000000/minute",
            "PROCTOR_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        log = (self.tmp / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "proctor", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError((self.tmp / "server.log").read_text())

    def __exit__(self, *exc: object) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    def rss_mb(self) -> float | None:
        return tree_rss_mb(self.proc.pid) if self.proc else None

    def cpu_seconds(self) -> float:
        """Server CPU so far, worker processes included."""
        return tree_cpu_seconds(self.proc.pid) if self.proc else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's worker processes under PROCTOR_WORKERS)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += cpu_seconds(member)
        except OSError:
            continue
    return total


def tree_rss_mb(pid: int) -> float:
    return sum(rss_mb(member) or 0.0 for member in process_tree(pid))


def metric_total(metrics_text: str, name: str) -> float | None:
    """The value of an unlabelled counter in a Prometheus text exposition."""
    for line in metrics_text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "_total "):
            return float(line.split()[1])
    return None


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Result:
    name: str
    count: int
    errors: int
    seconds: float
    latencies: list[float]
    server_cpu: float | None = None  # server CPU seconds spent on this case, when the pid is known

    @property
    def throughput(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def cpu_us_per_request(self) -> float | None:
        return self.server_cpu / self.count * 1e6 if self.server_cpu is not None and self.count else None

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")


async def drive(
    name: str,
    concurrency: int,
    jobs: list[Callable[[], Awaitable[httpx.Response]]],
    ok: Callable[[httpx.Response], bool] = lambda r: r.status_code < 400,
) -> Result:
    """Run `jobs` with `concurrency` workers; time each call."""
    queue = list(reversed(jobs))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while queue:
            job = queue.pop()
            started = time.perf_counter()
            try:
                response = await job()
                good = ok(response)
            except httpx.HTTPError:
                good = False
            latencies.append(time.perf_counter() - started)
            errors += 0 if good else 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, len(latencies), errors, time.perf_counter() - started, latencies)


class RawClient:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams.

    httpx costs the client more CPU per request than a small FastAPI route costs the server, which
    would make the client the thing being measured; pre-encoded requests keep the load generator cheap.
    """

    def __init__(self, url: str) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def encode(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> bytes:
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        reader, writer = (
            self._idle.pop() if self._idle else await asyncio.open_connection(self.host, self.port)
        )
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await reader.readexactly(length) if length else b""
        self._idle.append((reader, writer))
        return status, body

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


async def drive_raw(
    name: str,
    client: RawClient,
    concurrency: int,
    requests: list[bytes],
    ok: Callable[[int], bool] = lambda status: status < 400,
) -> Result:
    """Send pre-encoded requests with `concurrency` connections; time each exchange."""
    queue = list(reversed(requests))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while queue:
            raw = queue.pop()
            started = time.perf_counter()
            try:
                status, _ = await client.send(raw)
                good = ok(status)
            except (OSError, asyncio.IncompleteReadError):
                good = False
            latencies.append(time.perf_counter() - started)
            errors += 0 if good else 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(name, len(latencies), errors, time.perf_counter() - started, latencies)


def table(title: str, results: list[Result], extra: dict[str, list[str]] | None = None) -> Table:
    t = Table(title=title)
    for column in ("case", "requests", "errors", "req/s", "p50 ms", "p99 ms", "mean ms"):
        t.add_column(column, justify="right" if column != "case" else "left")
    for name in extra or {}:
        t.add_column(name, justify="right")
    for i, r in enumerate(results):
        row = [
            r.name,
            str(r.count),
            str(r.errors),
            f"{r.throughput:,.0f}",
            f"{r.pct(50):.2f}",
            f"{r.pct(99):.2f}",
            f"{r.mean_ms:.2f}",
        ]
        row += [values[i] for values in (extra or {}).values()]
        t.add_row(*row)
    return t


def server_seconds(response: httpx.Response) -> float | None:
    """The server's own time for a request, from the Server-Timing header proctor sends."""
    _, found, duration = response.headers.get("server-timing", "").partition(";dur=")
    return float(duration) / 1000 if found else None


def server_route_mean_ms(metrics_text: str, route: str) -> float | None:
    """Mean server-side latency of one route from the Prometheus histogram (sum / count)."""
    total = count = 0.0
    for line in metrics_text.splitlines():
        if f'route="{route}"' not in line:
            continue
        if line.startswith("proctor_http_request_duration_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("proctor_http_request_duration_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total / count * 1000 if count else None
