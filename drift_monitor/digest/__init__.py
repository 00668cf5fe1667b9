"""The weekly digest: build.py reads the period from the store into one JSON payload (what the
outbox stores and every renderer reads), text.py and html.py render it, charts.py draws its
charts (matplotlib, imported only when a chart is drawn).

The digest knows no channel: :mod:`drift_monitor.app.digest` adds the console links and queues
it; the channels render it with the functions here.
"""

from __future__ import annotations

from drift_monitor.digest.build import (
    build_digest,
    effect_series,
    expected_slots,
    percentile,
    silence_summary,
)
from drift_monitor.digest.charts import COLORS, PAGED, Chart, charts_for, digest_png, png, svg
from drift_monitor.digest.html import render_html
from drift_monitor.digest.text import (
    fmt_ms,
    fmt_pct,
    render_digest_text,
    silence_lines,
    target_lines,
)

__all__ = ["COLORS", "PAGED", "Chart", "build_digest", "charts_for", "digest_png",
           "effect_series", "expected_slots", "fmt_ms", "fmt_pct", "percentile", "png",
           "render_digest_text", "render_html", "silence_lines", "silence_summary", "svg",
           "target_lines"]
