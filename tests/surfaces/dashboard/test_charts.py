"""Chart geometry: every bar and marker is placed inside the drawing and carries its number as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from proctor.surfaces.dashboard import charts


def test_histogram_bars_scale_to_the_tallest_and_keep_their_ranges() -> None:
    bars = charts.histogram(0.0, 1.0, [1, 4, 0, 2])
    assert [b.count for b in bars] == [1, 4, 0, 2]
    assert [b.label for b in bars] == ["0.00–0.25", "0.25–0.50", "0.50–0.75", "0.75–1.00"]
    tallest = bars[1]
    assert tallest.y == charts.PAD_TOP and bars[2].height == 0
    assert all(charts.PAD_LEFT <= b.x and b.x + b.width <= charts.WIDTH for b in bars)
    assert charts.histogram(0.0, 0.0, []) == []


def test_step_line_labels_a_few_markers_and_ends_at_the_right_edge() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [(start + timedelta(hours=i), 0.5 + i / 100, f"agent-{i}") for i in range(20)]
    markers, path = charts.step_line(points)
    assert len(markers) == 20 and markers[0].x == charts.PAD_LEFT
    assert markers[-1].labelled and sum(m.labelled for m in markers) <= charts.MAX_LABELS + 1
    assert markers[0].y > markers[-1].y  # a higher score is drawn higher up
    assert path.startswith(f"M{markers[0].x},{markers[0].y}") and path.endswith(f"H{charts.WIDTH - 16}")
    single, _ = charts.step_line(points[:1])
    assert len(single) == 1 and single[0].labelled
    assert charts.step_line([]) == ([], "")
