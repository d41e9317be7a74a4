"""What the dashboard's browser tests share: where Chromium is, the viewports, the checks every page
passes, and a page that records everything that went wrong on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import services

CHROMIUM = os.environ.get("PROCTOR_TEST_CHROMIUM", "/usr/bin/chromium")
# Desktop in the light scheme, phone in the dark one: both colour schemes are loaded and captured.
VIEWPORTS = {
    "desktop": ({"width": 1280, "height": 800}, "light"),
    "phone": ({"width": 390, "height": 844}, "dark"),
}


def require_chromium() -> None:
    """Skip (fail under CI=true) when there is no browser to drive."""
    if not os.access(CHROMIUM, os.X_OK):
        services.unavailable(
            f"Chromium at {CHROMIUM}", "not installed; `make test` installs Debian's chromium"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        services.unavailable("Playwright for Python", "not installed; it is in the dev extras")


def launch() -> Iterator[Any]:
    """Chromium for a module's `browser` fixture (which depends on its server fixture, so the browser
    closes first: an open event stream would hold the server's shutdown)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


def shots_folder(config: pytest.Config) -> Path:
    """Screenshots go under the test run's output: test-output/dashboard/, or $PROCTOR_TEST_OUTPUT."""
    folder = Path(os.environ.get("PROCTOR_TEST_OUTPUT") or config.rootpath / "test-output") / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


LIVE = "document.getElementById('live-status').textContent.startsWith('Live')"  # the stream is open

# What a screen reader needs first: the page's landmarks, one h1, a label on every form control, and a
# name on every chart.
LANDMARKS_AND_LABELS = """() => {
  const missing = [];
  for (const s of ["header", 'nav[aria-label="Main"]', "main", "footer", "main h1"])
    if (document.querySelectorAll(s).length !== 1) missing.push(s);
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea"))
    if (!el.labels.length && !el.getAttribute("aria-label")) missing.push("label for #" + el.id);
  for (const svg of document.querySelectorAll("svg"))
    if (svg.getAttribute("role") !== "img" || !svg.querySelector("title")) missing.push("svg name");
  return missing;
}"""


class Watched:
    """A page whose console errors, script errors, failed requests and foreign requests are recorded."""

    def __init__(self, context: Any, base_url: str) -> None:
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("requestfailed", self._failed)
        self.page.on(
            "response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}")
        )
        self.page.on(
            "request",
            lambda r: r.url.startswith((base_url, "data:")) or self.problems.append(f"foreign: {r.url}"),
        )

    def _failed(self, request: Any) -> None:
        # Leaving a live page ends its event stream: the browser reports that as an aborted request.
        if request.url.endswith("/dashboard/events") and "ERR_ABORTED" in str(request.failure):
            return
        self.problems.append(f"failed: {request.url} {request.failure}")

    def clean(self) -> list[str]:
        found, self.problems = self.problems, []
        return found
