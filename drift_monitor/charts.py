"""Charts of the digest: a small time series per dimension and target.

The same chart model is drawn two ways: inline SVG for the HTML report (no JavaScript, no
network, opens offline) and a PNG for Slack (``files_upload_v2``), rasterised by
:mod:`drift_monitor.png` so the service needs no plotting library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from drift_monitor.detection.findings import DIMENSIONS

COLORS = {"formatting": "#2563eb", "tone": "#9333ea", "answers": "#ea580c",
          "metadata": "#0891b2", "operational": "#65a30d"}
PAGED = "#dc2626"


@dataclass(frozen=True)
class Chart:
    """One dimension of one target: points (x in [0, 1] of the period, effect, paged)."""

    target: str
    dimension: str
    points: list[tuple[float, float, bool]]
    y_max: float

    @property
    def color(self) -> str:
        return COLORS.get(self.dimension, "#334155")


def charts_for(payload: dict[str, Any]) -> list[Chart]:
    """One chart per target and dimension, x scaled to the digest's period."""
    start = datetime.fromisoformat(payload["start"])
    end = datetime.fromisoformat(payload["end"])
    span = max(1.0, (end - start).total_seconds())
    out = []
    for t in payload["targets"]:
        for dim in DIMENSIONS:
            pts = [(min(1.0, max(0.0, (datetime.fromisoformat(x) - start).total_seconds()
                                 / span)), float(y), bool(paged))
                   for x, y, paged in t["series"].get(dim, [])]
            top = max([y for _, y, _ in pts] + [0.0])
            out.append(Chart(t["name"], dim, pts, y_max=_nice(top)))
    return out


def _nice(v: float) -> float:
    """A round axis maximum at or above v (at least 0.2, so a flat line sits low)."""
    for m in (0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        if v <= m:
            return m
    return float(int(v) + 1)


def svg(chart: Chart, *, width: int = 300, height: int = 120,
        ticks: list[tuple[float, str]] | None = None) -> str:
    """The chart as an inline SVG element: axes, the effect line, red dots where it paged.
    ``ticks`` (x in [0, 1], label) draw a date axis instead of the "start"/"now" labels."""
    left, right, top, bottom = 34, 8, 18, 18
    w, h = width - left - right, height - top - bottom

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + x * w, top + h - (y / chart.y_max) * h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" class="chart" '
             f'aria-label="{escape(chart.target)} {chart.dimension} drift effect">',
             f'<text x="{left}" y="12" class="title">{escape(chart.dimension)}</text>',
             f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" class="axis"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" class="axis"/>',
             f'<line x1="{left}" y1="{top}" x2="{left + w}" y2="{top}" class="grid"/>',
             f'<text x="{left - 4}" y="{top + 4}" class="tick" text-anchor="end">'
             f'{chart.y_max:g}</text>',
             f'<text x="{left - 4}" y="{top + h + 4}" class="tick" text-anchor="end">0</text>',
             ]
    if ticks is None:
        parts += [f'<text x="{left}" y="{height - 4}" class="tick">start</text>',
                  f'<text x="{left + w}" y="{height - 4}" class="tick" text-anchor="end">now'
                  '</text>']
    for x, label in ticks or []:
        anchor = "start" if x <= 0.05 else "end" if x >= 0.95 else "middle"
        parts += [f'<line x1="{left + x * w:.1f}" y1="{top + h}" x2="{left + x * w:.1f}" '
                  f'y2="{top + h + 3}" class="axis"/>',
                  f'<text x="{left + x * w:.1f}" y="{height - 4}" class="tick" '
                  f'text-anchor="{anchor}">{escape(label)}</text>']
    if not chart.points:
        parts.append(f'<text x="{left + w / 2}" y="{top + h / 2}" class="empty" '
                     'text-anchor="middle">no checks</text>')
    else:
        coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in
                          (xy(x, y) for x, y, _ in chart.points))
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{chart.color}" '
                     'stroke-width="2" class="series"/>')
        for x, y, paged in chart.points:
            px, py = xy(x, y)
            color = PAGED if paged else chart.color
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{3.5 if paged else 2.5}" '
                         f'fill="{color}"><title>effect {y:g}'
                         f'{" (drift confirmed)" if paged else ""}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def digest_png(payload: dict[str, Any]) -> bytes | None:
    """All of the digest's charts in one PNG (a row per target), or None without targets."""
    from drift_monitor.png import render_charts

    charts = charts_for(payload)
    if not charts:
        return None
    return render_charts(charts, title=f"Drift effect per dimension, {payload['start'][:10]} "
                                       f"to {payload['end'][:10]}")
