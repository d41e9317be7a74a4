"""Prometheus metrics. Each app owns its registry, so several apps in one process (tests) don't clash."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "proctor_http_requests_total",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "proctor_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "proctor_rate_limited_total",
            "Requests refused by a rate limit",
            ["scope"],
            registry=self.registry,
        )
        self.limiter_unavailable = Counter(
            "proctor_rate_limiter_unavailable_total",
            "Requests let through unlimited because the shared limiter's store could not be reached",
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "proctor_auth_failures_total", "Refused authentications by code", ["code"], registry=self.registry
        )

        self._totals = _Totals()
        self.registry.register(self._totals)
        # Each request's two labelled series, looked up once: `labels()` takes a lock and builds the
        # key on every call (a tenth of a /health request's CPU). Bounded by route templates × status.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        series = self._series.get((method, route, status))
        if series is None:
            if len(self._series) >= 10_000:
                self._series.clear()
            series = self._series[(method, route, status)] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)

    def watch(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        """Export a process counter kept elsewhere (statements sent, Redis round trips) at scrape time.

        Hot paths bump a plain integer instead of a labelled Prometheus counter (a lock and a lookup
        per increment); the value is read only when /metrics is scraped.
        """
        self._totals.sources[name] = (documentation, read)

    def watch_database(self, db: Any) -> None:
        self.watch("proctor_db_statements", "SQL statements sent by this process", lambda: db.statements)
        self.watch(
            "proctor_db_transactions", "Executor transactions opened by this process", lambda: db.transactions
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Totals(Collector):
    def __init__(self) -> None:
        self.sources: dict[str, tuple[str, Callable[[], int]]] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, (documentation, read) in self.sources.items():
            yield CounterMetricFamily(name, documentation, value=read())
