"""Rendering dashboard pages: the Jinja2 environment, its filters, fragments and HTML errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from proctor import __version__
from proctor.core.cache import TTLCache
from proctor.core.dashboard import live
from proctor.errors import ProctorError
from proctor.http.deps import core_of
from proctor.storage.base import utcnow

PREFIX = "/dashboard"
FRAGMENT_HEADER = "x-dashboard-fragment"
# Live fragments are shared between viewers: after an event every open page asks for its fragment at
# once, and viewers of the same page get one render (keyed by the hub's last event, so never one made
# before the change they were told about). The TTL only refreshes relative times ("3 s ago").
FRAGMENT_TTL_SECONDS = 5.0
NO_STORE = {"Cache-Control": "no-store"}


def _fragments(request: Request) -> TTLCache[str]:
    extra = core_of(request).caches.extra
    cache = extra.get("dashboard.fragments")
    if cache is None:
        cache = extra["dashboard.fragments"] = TTLCache(FRAGMENT_TTL_SECONDS, maxsize=512)
    return cache  # type: ignore[no-any-return]


def cached_fragment(request: Request) -> HTMLResponse | None:
    """A live-fragment request's shared render, if there is one (call before reading anything)."""
    if not request.headers.get(FRAGMENT_HEADER):
        return None
    key = (request.url.path, request.url.query, live.hub_of(core_of(request)).last_id)
    request.state.fragment_key = key
    body = _fragments(request).get(key)
    return HTMLResponse(body, headers=NO_STORE) if body is not None else None


def short_hotkey(value: str | None) -> str:
    if not value:
        return "—"
    return value if len(value) <= 14 else f"{value[:6]}…{value[-4:]}"


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _span(seconds: int) -> str:
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "—"
    seconds = int((_utc(now or utcnow()) - _utc(value)).total_seconds())
    return f"in {_span(-seconds)}" if seconds < 0 else f"{_span(seconds)} ago"


def when(value: datetime | None) -> str:
    return _utc(value).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def iso(value: datetime | None) -> str:
    return _utc(value).isoformat() if value else ""


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return _span(max(0, int((_utc(end) - _utc(start)).total_seconds())))


def score(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def heat(value: float | None) -> int:
    """A hue from red (0) to green (130) for a score in [0, 1] (the number is always printed too)."""
    if value is None:
        return 220
    return round(130 * min(1.0, max(0.0, value)))


TEMPLATES = Environment(
    loader=PackageLoader("proctor.surfaces.dashboard", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(
    hotkey=short_hotkey, ago=ago, when=when, iso=iso, score=score, heat=heat, duration=duration
)


DEFAULT_NAV = [
    ("Leaderboard", "/"),
    ("Evaluations", f"{PREFIX}/evaluations"),
    ("Validators", f"{PREFIX}/validators"),
    ("Rewards", f"{PREFIX}/rewards"),
]


def nav(request: Request) -> list[tuple[str, str]]:
    settings = core_of(request).settings
    items = list(DEFAULT_NAV)
    if "oro" in settings.surfaces:  # races are ORO's second phase
        items.insert(1, ("Races", f"{PREFIX}/races"))
    if "compute" in settings.surfaces:
        items.append(("Compute", f"{PREFIX}/compute"))
    return items


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    template = TEMPLATES.get_template(name)
    # The app's own root path (behind a proxy), not the dashboard mount's (`root_path` inside a mount).
    root = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    values = {
        "root": root,
        "prefix": root + PREFIX,
        "nav": nav(request),
        "path": request.url.path,
        "now": utcnow(),
        "version": __version__,
        **context,
    }
    if request.headers.get(FRAGMENT_HEADER) and "live" in template.blocks:
        body = "".join(template.blocks["live"](template.new_context(values)))
        key = getattr(request.state, "fragment_key", None)
        if key is not None and status == 200:
            _fragments(request).put(key, body)
    else:
        body = template.render(values)
    return HTMLResponse(body, status_code=status, headers=NO_STORE)


class HtmlError(JSONResponse):
    """An error rendered as a dashboard page (a JSONResponse in type, so it fits `ErrorRenderers`)."""

    media_type = "text/html"

    def render(self, content: Any) -> bytes:
        return str(content).encode()


def render_error(error: ProctorError) -> JSONResponse:
    """The dashboard group's error renderer: unknown paths and anything a page did not catch."""
    values = {
        "root": "",
        "prefix": PREFIX,
        "nav": DEFAULT_NAV,
        "path": "",
        "now": utcnow(),
        "version": __version__,
    }
    page = TEMPLATES.get_template("error.html").render(values, error=error, title=f"Error {error.status}")
    return HtmlError(page, status_code=error.status, headers=error.headers or None)
