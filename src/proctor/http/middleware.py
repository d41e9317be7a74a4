"""The outermost ASGI layer: client address, request id, the global per-IP limit, metrics and the
access log. Pure ASGI (not BaseHTTPMiddleware) so streaming bodies pass straight through."""

from __future__ import annotations

import ipaddress
import itertools
import os
import time
from collections.abc import Iterable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.errors import RateLimited
from proctor.http.errors import BACKEND_UNAVAILABLE, ErrorRenderers
from proctor.http.metrics import Metrics
from proctor.storage.ratelimit import RateLimiter

log = structlog.get_logger("proctor.access")

# Liveness and scraping must never be refused: a 429 on /health can get a healthy replica killed.
UNLIMITED_PATHS = frozenset({"/health", "/metrics"})

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def resolve_client_ip(peer: str, forwarded_for: str | None, trusted: tuple[IPNetwork, ...]) -> str:
    """The first address, from the right, that is not one of our proxies.

    X-Forwarded-For is only believed when the direct peer is a trusted proxy; otherwise anyone could
    pick a fresh rate-limit bucket per request by sending the header.
    """
    if not trusted or not forwarded_for or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _in(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


# Request ids only need to be unique, not unpredictable: a random per-process prefix and a counter,
# as long as a UUID's hex, without a getrandom() system call per request as uuid4 makes.
_PROCESS_ID = os.urandom(8).hex()
_request_numbers = itertools.count()


def _new_request_id() -> str:
    return f"{_PROCESS_ID}{next(_request_numbers):016x}"


# Set in the scope when the global limit of a signed request is left to its auth dependency, which
# counts it together with the replay nonce (one Redis round trip instead of two). Whatever a route
# did not consume is counted when the request ends (an unknown path, a bad signature).
DEFERRED_LIMIT = "proctor.limit_deferred"


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        enabled: bool,
        global_limit: str,
        trusted_proxies: tuple[IPNetwork, ...],
        metrics: Metrics,
        renderers: ErrorRenderers,
        signed_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.enabled = enabled
        self.global_limit = global_limit
        self.trusted = trusted_proxies
        self.metrics = metrics
        self.renderers = renderers
        self.signed_prefixes = signed_prefixes  # route groups whose auth counts the global limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        peer = scope["client"][0] if scope.get("client") else ""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        ip = resolve_client_ip(peer, headers.get("x-forwarded-for"), self.trusted)
        request_id = headers.get("x-request-id") or _new_request_id()
        scope["proctor.state"] = scope["app"].state.proctor  # reachable from mounted sub-apps
        scope["proctor.client_ip"] = ip
        scope["proctor.request_id"] = request_id
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                # Server-Timing (W3C): the time from the request's arrival to its answer, body read
                # included, so a client or a benchmark can tell server time from network time.
                took = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                    (b"server-timing", took.encode()),
                ]
            await send(message)

        try:
            if self._defer_limit(scope, headers):
                scope[DEFERRED_LIMIT] = True
            elif await self._over_limit(scope, ip, send_wrapper):
                return
            await self.app(scope, receive, send_wrapper)
        finally:
            if scope.pop(DEFERRED_LIMIT, False):
                await self._count_late(scope, ip)
            self._observe(scope, status["code"], time.perf_counter() - started, ip, request_id)

    def _defer_limit(self, scope: Scope, headers: dict[str, str]) -> bool:
        return (
            self.enabled
            and "x-signature" in headers
            and "x-nonce" in headers
            and "authorization" not in headers
            and scope["path"].startswith(self.signed_prefixes)
        )

    async def _count_late(self, scope: Scope, ip: str) -> None:
        try:
            await scope["proctor.state"].limiter.hit(self.global_limit, "ip", ip)
        except BACKEND_UNAVAILABLE:
            self.metrics.limiter_unavailable.inc()

    async def _over_limit(self, scope: Scope, ip: str, send: Send) -> bool:
        if not self.enabled or scope["path"] in UNLIMITED_PATHS:
            return False
        # The limiter lives in the app state built by the lifespan (shared with per-route limits).
        limiter: RateLimiter = scope["proctor.state"].limiter
        try:
            decision = await limiter.hit(self.global_limit, "ip", ip)
        except BACKEND_UNAVAILABLE as exc:
            # The shared limiter's Redis is down. The global limit fails open, so public reads stay
            # up; signed routes still fail closed (their replay store needs Redis, and says 503).
            self.metrics.limiter_unavailable.inc()
            log.warning("ratelimit.unavailable", error=type(exc).__name__, path=scope["path"])
            return False
        if decision.allowed:
            return False
        self.metrics.rate_limited.labels("global").inc()
        error = RateLimited(
            f"Rate limit exceeded: {decision.limit}",
            headers={"Retry-After": str(decision.retry_after)},
        )
        response = self.renderers.for_path(scope["path"])(error)
        await response(scope, _empty_receive, send)
        return True

    def _observe(self, scope: Scope, status: int, elapsed: float, ip: str, request_id: str) -> None:
        template = getattr(scope.get("route"), "path", None)
        # Inside a mounted group the route's path is relative; root_path holds the mount prefix.
        route = scope.get("root_path", "") + template if template else "<unmatched>"
        method = scope["method"]
        self.metrics.observe_request(method, route, status, elapsed)
        log.info(
            "request",
            method=method,
            route=route,
            path=scope["path"],
            status=status,
            ms=round(elapsed * 1000, 2),
            ip=ip,
            request_id=request_id,
        )


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
