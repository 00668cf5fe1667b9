"""The console's page helpers: chart downsampling keeps what matters, the word diff marks
exactly what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drift_monitor.digest.build import effect_series
from drift_monitor.web.pages import CHART_POINTS, downsample, word_diff


def test_a_year_of_hourly_checks_becomes_a_bounded_chart_that_keeps_peaks_and_drift() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=365)
    checks = [{"created_at": start + timedelta(hours=h, minutes=30), "findings": []}
              for h in range(365 * 24)]
    checks[5000]["findings"] = [{"dimension": "tone", "severity": "warning", "effect": 0.7,
                                 "confirmed": True}]
    checks[7000]["findings"] = [{"dimension": "tone", "severity": "warning", "effect": 0.3,
                                 "confirmed": False}]
    reduced = downsample(checks, start, end)
    assert len(reduced) <= CHART_POINTS
    _, series = effect_series(reduced)
    tone = series["tone"]
    assert max(e for _, e, _ in tone) == 0.7
    assert sum(d for _, _, d in tone) == 1  # one red point, where the confirmed drift was
    assert [e for _, e, _ in tone].count(0.3) == 1
    assert downsample(checks[:100], start, end) == checks[:100]  # few checks: untouched


def test_word_diff_marks_only_what_changed() -> None:
    before, after = word_diff("the answer is 42.", "the answer is ```42```.")
    assert "".join(t for _, t in before) == "the answer is 42."
    assert "".join(t for _, t in after) == "the answer is ```42```."
    assert ("ins", "```") in after and all(k != "del" for k, _ in before)
    big = "x " * 20_000
    assert word_diff(big, big + "y") == ([("same", big)], [("same", big + "y")])
