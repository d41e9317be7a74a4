"""Fixtures of the dashboard's browser tests (helpers in `browsing`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.surfaces.dashboard import browsing


@pytest.fixture(scope="module")
def chromium_ready() -> None:
    """Skip (fail under CI=true) before anything is seeded or started when there is no browser."""
    browsing.require_chromium()


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest) -> Path:
    return browsing.shots_folder(request.config)
