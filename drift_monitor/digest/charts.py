"""Charts of the digest: the drift effect of each check over time, per target and dimension.

One definition (:class:`Chart`, drawn by :func:`_plot`) and two outputs through matplotlib:
an SVG per chart for the HTML reports (the digest report and the console's target page) and one
PNG of every chart for Slack (``files_upload_v2``). Matplotlib is imported only when a chart is
drawn (Agg, no pyplot: no global figure state, no display), so importing the digest stays fast.

Text in a chart is labels only (target and dimension names, dates, numbers): matplotlib's
mathtext is off, so a target named ``$x$`` is drawn as ``$x$``, and the SVG writer escapes
``<``, ``>`` and ``&``. The SVG is made safe to inline under the console's
Content-Security-Policy (``style-src 'self'``, no script): :func:`_inline_svg` turns matplotlib's
``style`` attributes and ``<style>`` element into presentation attributes and gives every id a
per-chart prefix, so five charts on one page do not share clip paths.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from drift_monitor.detection.findings import DIMENSIONS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLORS = {"formatting": "#2563eb", "tone": "#9333ea", "answers": "#ea580c",
          "metadata": "#0891b2", "operational": "#65a30d"}
PAGED = "#dc2626"
INK, MUTED, GRID = "#0f172a", "#64748b", "#e2e8f0"
SVG_SIZE = (4.6, 2.7)  # inches at 72 points each: about 330 x 195 CSS pixels
PNG_PANEL = (3.4, 2.1)  # inches per chart in Slack's PNG, at PNG_DPI
PNG_DPI = 100
MAX_MARKED = 60  # a dot per check up to this many; beyond, the line alone
MAX_PNG_TARGETS = 20  # rows of Slack's PNG; the HTML report has every target

_RC: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text: searchable, selectable, escaped
    "svg.hashsalt": "drift-monitor",  # the same chart gives the same SVG
    "text.parse_math": False, "text.usetex": False,  # "$x$" in a name is drawn as "$x$"
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],
    "axes.unicode_minus": False}
_lock = threading.Lock()  # matplotlib's text layout and font cache are not thread-safe


@dataclass(frozen=True)
class Chart:
    """One dimension of one target over [start, end): points (time, effect, confirmed drift)."""

    target: str
    dimension: str
    points: list[tuple[datetime, float, bool]]
    start: datetime
    end: datetime
    y_max: float

    @property
    def color(self) -> str:
        return COLORS.get(self.dimension, "#334155")


def charts_for(payload: dict[str, Any]) -> list[Chart]:
    """One chart per target and dimension of a digest payload (``start``, ``end`` and per
    target ``name`` and ``series``)."""
    start = datetime.fromisoformat(payload["start"])
    end = datetime.fromisoformat(payload["end"])
    out = []
    for t in payload["targets"]:
        for dim in DIMENSIONS:
            pts = [(datetime.fromisoformat(x), float(y), bool(paged))
                   for x, y, paged in t["series"].get(dim, [])]
            top = max([y for _, y, _ in pts] + [0.0])
            out.append(Chart(t["name"], dim, pts, start, end, y_max=_nice(top)))
    return out


def _nice(v: float) -> float:
    """A round axis maximum at or above v (at least 0.2, so a flat line sits low)."""
    for m in (0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        if v <= m:
            return m
    return float(int(v) + 1)


def _date_format(start: datetime, end: datetime) -> str:
    return "%H:%M" if end - start <= timedelta(days=1) else "%b %d"


def _plot(ax: Axes, chart: Chart, *, legend: bool, title: str | None = None) -> None:
    """Draw one chart on ``ax``: the effect line, red dots where drift was confirmed, dates on
    the x axis, the effect on the y axis."""
    from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
    from matplotlib.lines import Line2D

    ax.set_xlim(date2num(chart.start), date2num(chart.end))
    ax.set_ylim(0, chart.y_max)
    ax.set_yticks([0, chart.y_max / 2, chart.y_max])
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=5))
    ax.xaxis.set_major_formatter(DateFormatter(_date_format(chart.start, chart.end)))
    ax.tick_params(labelsize=8, colors=MUTED, length=3)
    ax.grid(True, color=GRID, linestyle="--", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#94a3b8")
    ax.set_title(title or chart.dimension, loc="left", fontsize=10, color=INK,
                 fontweight="bold")
    if title is None:
        ax.set_title(chart.target, loc="right", fontsize=8, color=MUTED)
    ax.set_ylabel("effect", fontsize=8, color=MUTED)
    if not chart.points:
        ax.text(0.5, 0.5, "no checks", transform=ax.transAxes, ha="center", va="center",
                fontsize=9, color=MUTED)
    else:
        xs = [date2num(x) for x, _, _ in chart.points]
        ys = [y for _, y, _ in chart.points]
        # not clipped: the latest check sits on the right edge, and y never exceeds y_max
        ax.plot(xs, ys, color=chart.color, linewidth=2, clip_on=False,
                marker="o" if len(xs) <= MAX_MARKED else "", markersize=3)
        paged = [(x, y) for x, y, p in chart.points if p]
        if paged:
            ax.plot([date2num(x) for x, _ in paged], [y for _, y in paged], linestyle="none",
                    marker="o", markersize=6, color=PAGED, zorder=3, clip_on=False)
    if legend:
        handles = [Line2D([], [], color=chart.color, linewidth=2, label="drift effect per check"),
                   Line2D([], [], color=PAGED, marker="o", linestyle="none", markersize=6,
                          label="confirmed drift")]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2,
                  fontsize=7, frameon=False, handlelength=1.5, borderaxespad=0)


def _render(draw: Any, *, size: tuple[float, float], fmt: str, dpi: int) -> bytes:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _lock, matplotlib.rc_context():  # our settings, restored afterwards
        rc: Any = matplotlib.rcParams  # typed with literal keys only
        rc.update(_RC)
        # fixed margins, not constrained layout or a "tight" bounding box: each of those lays
        # the text out again and made a chart several times slower
        fig = Figure(figsize=size, dpi=dpi)
        FigureCanvasAgg(fig)
        draw(fig)
        out = io.BytesIO()
        fig.savefig(out, format=fmt, dpi=dpi, facecolor="white",
                    metadata={"Date": None} if fmt == "svg" else {"Software": None})
        return out.getvalue()


def svg(chart: Chart) -> str:
    """The chart as an inline ``<svg class="chart">`` element, safe to put in any of our pages
    (no script, no style attribute or element, ids of its own)."""
    def draw(fig: Any) -> None:
        w, h = SVG_SIZE  # margins in inches: room for the tick labels, the title, the legend
        fig.subplots_adjust(left=0.5 / w, right=1 - 0.3 / w, top=1 - 0.3 / h, bottom=0.6 / h)
        _plot(fig.add_subplot(), chart, legend=True)

    data = _render(draw, size=SVG_SIZE, fmt="svg", dpi=72)
    key = hashlib.sha1(f"{chart.target}\0{chart.dimension}".encode()).hexdigest()[:8]
    return _inline_svg(data.decode(), prefix=f"c{key}-",
                       label=f"{chart.target} {chart.dimension} drift effect")


def digest_png(payload: dict[str, Any]) -> bytes | None:
    """All of the digest's charts in one PNG (a row per target, at most MAX_PNG_TARGETS, a
    column per dimension), or None without targets."""
    charts = charts_for(payload)
    if not charts:
        return None
    return png(charts, title=f"Drift effect per dimension, {payload['start'][:10]} "
                             f"to {payload['end'][:10]}")


def png(charts: list[Chart], *, title: str) -> bytes:
    """These charts as one PNG: a row per target, a column per dimension, one legend."""
    targets = list(dict.fromkeys(c.target for c in charts))[:MAX_PNG_TARGETS]
    columns = max(1, max(sum(c.target == t for c in charts) for t in targets))

    def draw(fig: Any) -> None:
        from matplotlib.lines import Line2D

        w, h = size
        fig.subplots_adjust(left=0.5 / w, right=1 - 0.3 / w, top=1 - 0.75 / h,
                            bottom=0.75 / h, wspace=0.3, hspace=0.55)
        axes = fig.subplots(len(targets), columns, squeeze=False)
        for row, target in enumerate(targets):
            mine = [c for c in charts if c.target == target]
            for col in range(columns):
                ax = axes[row][col]
                if col >= len(mine):
                    ax.set_visible(False)
                    continue
                _plot(ax, mine[col], legend=False, title=f"{target}: {mine[col].dimension}")
        fig.suptitle(title, fontsize=13, color=INK, x=0.15 / w, y=1 - 0.12 / h, ha="left",
                     va="top")
        handles = [Line2D([], [], color=MUTED, linewidth=2, label="drift effect of each check "
                          "(largest among its findings at warning or above)"),
                   Line2D([], [], color=PAGED, marker="o", linestyle="none", markersize=6,
                          label="confirmed drift")]
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.15 / w, 0.05 / h),
                   fontsize=9, frameon=False, ncols=2 if columns > 2 else 1)

    size = (PNG_PANEL[0] * columns, PNG_PANEL[1] * len(targets) + 0.8)
    return _render(draw, size=size, fmt="png", dpi=PNG_DPI)


_STYLE_ATTR = re.compile(r' style="([^"]*)"')
_ID = re.compile(r' id="([^"]+)"')
_PT_SIZE = re.compile(r'\b(width|height)="([\d.]+)pt"')  # user units: CSS pixels


def _presentation(match: re.Match[str]) -> str:
    attrs = []
    for decl in match.group(1).split(";"):
        name, _, value = decl.partition(":")
        name, value = name.strip(), value.strip()
        if name and value:
            attrs.append(f' {name}="{escape(value, quote=True)}"')
    return "".join(attrs)


def _inline_svg(data: str, *, prefix: str, label: str) -> str:
    """matplotlib's SVG document as an element for an HTML page under a strict CSP."""
    body = data[data.index("<svg"):]
    body = re.sub(r"<metadata>.*?</metadata>\s*", "", body, flags=re.S)
    body = re.sub(r"<style[^>]*>.*?</style>\s*", "", body, flags=re.S)
    body = _STYLE_ATTR.sub(_presentation, body)
    for old in set(_ID.findall(body)):
        body = (body.replace(f' id="{old}"', f' id="{prefix}{old}"')
                .replace(f'"#{old}"', f'"#{prefix}{old}"')
                .replace(f"url(#{old})", f"url(#{prefix}{old})"))
    # what the removed <style> said, as inherited attributes of the root
    root = (f'<svg class="chart" role="img" aria-label="{escape(label, quote=True)}" '
            'stroke-linejoin="round" stroke-linecap="butt" ')
    body = _PT_SIZE.sub(lambda m: f'{m.group(1)}="{float(m.group(2)):.0f}"', body, count=2)
    return root + body[len("<svg "):].strip()
