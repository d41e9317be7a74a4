"""Chart geometry for the server-rendered SVG charts (pure: plain numbers in, shapes out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 560, 200, 40, 36, 18
MAX_LABELS = 6


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str  # the bin's range, e.g. "0.40–0.50"


def histogram(low: float, high: float, counts: list[int]) -> list[Bar]:
    """One bar per score bin; every bar carries its count and range as text."""
    width = (high - low) / len(counts) if counts else 0.0
    labels = [f"{low + i * width:.2f}–{low + (i + 1) * width:.2f}" for i in range(len(counts))]
    return columns(counts, labels)


def columns(counts: list[int], labels: list[str]) -> list[Bar]:
    """One bar per count, scaled to the tallest, each with its label."""
    if not counts:
        return []
    tallest = max(counts) or 1
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / len(counts)
    gap = min(4.0, step / 4)
    bars = []
    for i, (count, label) in enumerate(zip(counts, labels, strict=True)):
        h = plot_h * count / tallest
        bars.append(Bar(PAD_LEFT + i * step + gap / 2, PAD_TOP + plot_h - h, step - gap, h, count, label))
    return bars


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    score: float
    at: datetime
    label: str
    labelled: bool  # the score is printed beside the marker (a few markers only, so labels never collide)


def step_line(points: list[tuple[datetime, float, str]]) -> tuple[list[Point], str]:
    """Markers and an SVG path for a score over time that holds until the next change (oldest first)."""
    if not points:
        return [], ""
    times = [p[0].timestamp() for p in points]
    scores = [p[1] for p in points]
    t0, t1 = min(times), max(times)
    s0, s1 = min(scores), max(scores)
    plot_w, plot_h = WIDTH - PAD_LEFT - 16, HEIGHT - PAD_BOTTOM - PAD_TOP
    span_t, span_s = (t1 - t0) or 1.0, (s1 - s0) or 1.0

    def place(t: float, s: float) -> tuple[float, float]:
        x = PAD_LEFT + (plot_w * (t - t0) / span_t if t1 > t0 else plot_w / 2)
        y = PAD_TOP + (plot_h - plot_h * (s - s0) / span_s if s1 > s0 else plot_h / 2)
        return round(x, 1), round(y, 1)

    every = max(1, -(-len(points) // MAX_LABELS))
    last = len(points) - 1
    markers = [
        Point(*place(t, s), s, p[0], p[2], i == last or (i % every == 0 and last - i >= every / 2))
        for i, (t, s, p) in enumerate(zip(times, scores, points, strict=True))
    ]
    path = f"M{markers[0].x},{markers[0].y}"
    for marker in markers[1:]:
        path += f" H{marker.x} V{marker.y}"
    path += f" H{WIDTH - 16}"
    return markers, path
