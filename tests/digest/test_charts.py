"""The digest's charts: one definition drawn by matplotlib to PNG (Slack) and SVG (the HTML
reports), with dates on the x axis and a legend; names are drawn literally and escaped, the SVG
is safe under the console's Content-Security-Policy, and importing the digest loads no
matplotlib."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image

from drift_monitor.digest import Chart, charts_for, png, svg

START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=7)


def count_color(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels are within ``tolerance`` (sum of channel differences) of ``rgb``."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int32)
    return int((np.abs(pixels - np.array(rgb)).sum(axis=2) <= tolerance).sum())


def week(target: str = "bot", dimension: str = "formatting") -> Chart:
    points = [(START + timedelta(hours=6 * i), (i % 5) / 5, i == 12) for i in range(28)]
    return Chart(target, dimension, points, START, END, y_max=1.0)


def test_png_chart_puts_points_where_the_data_says() -> None:
    chart = Chart("bot", "formatting", [(START, 0.0, False), (END, 1.0, True)], START, END,
                  y_max=1.0)
    image = Image.open(io.BytesIO(png([chart], title="t")))
    assert image.format == "PNG" and image.size[0] > 250 and image.size[1] > 150
    red = count_color(image, (220, 38, 38), tolerance=10)
    blue = count_color(image, (0x25, 0x63, 0xEB), tolerance=10)
    assert red > 20 and blue > 100  # the paged dot, and a diagonal line two pixels wide


def test_slack_png_has_a_row_per_target_and_is_not_blank() -> None:
    charts = [week(t, d) for t in ("bot-a", "bot-b") for d in ("formatting", "tone")]
    image = Image.open(io.BytesIO(png(charts, title="Drift effect per dimension")))
    width, height = image.size
    assert 500 < width < 2500 and 300 < height < 2000
    gray = np.asarray(image.convert("L"))
    assert (gray < 250).mean() > 0.02, "more than a white page"
    assert count_color(image, (0x93, 0x33, 0xEA), tolerance=10) > 100  # tone's colour


def test_svg_has_real_axes_with_dates_a_legend_and_the_names() -> None:
    out = svg(week("support-bot", "tone"))
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", out)
    assert "support-bot" in texts and "tone" in texts
    assert "Mar 03" in texts and "Mar 09" in texts, texts  # dates, not "start"/"now"
    assert "drift effect per check" in texts and "confirmed drift" in texts
    assert out.startswith('<svg class="chart" role="img"') and out.endswith("</svg>")


def test_chart_text_is_drawn_literally_and_escaped() -> None:
    name = "$x$ <script>alert(1)</script> & co"
    out = svg(week(name))
    assert "<script" not in out
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", out)
    assert "$x$ &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in texts, "no mathtext"
    assert Image.open(io.BytesIO(png([week(name)], title=name))).size[0] > 250


def test_inline_svg_is_safe_under_the_console_csp() -> None:
    one, other = svg(week("a")), svg(week("b"))
    for out in (one, other):
        assert " style=" not in out and "<style" not in out  # CSP: style-src 'self'
        assert "<script" not in out and not re.search(r"\son\w+=", out)
        assert "<?xml" not in out and "<!DOCTYPE" not in out
        assert set(re.findall(r'href="([^"]*)"', out)) <= {
            f"#{i}" for i in re.findall(r' id="([^"]+)"', out)}, "links inside the chart only"
    ids = set(re.findall(r' id="([^"]+)"', one))
    assert ids and not ids & set(re.findall(r' id="([^"]+)"', other))


def test_charts_for_a_payload_span_its_period() -> None:
    payload = {"start": START.isoformat(), "end": END.isoformat(),
               "targets": [{"name": "bot", "series": {
                   "tone": [[(START + timedelta(days=1)).isoformat(), 0.3, True]]}}]}
    charts = {c.dimension: c for c in charts_for(payload)}
    assert charts["tone"].points == [(START + timedelta(days=1), 0.3, True)]
    assert (charts["tone"].start, charts["tone"].end, charts["tone"].y_max) == (START, END, 0.5)
    assert charts["formatting"].points == []


def test_importing_the_digest_and_its_users_does_not_import_matplotlib() -> None:
    code = ("import sys, drift_monitor.digest, drift_monitor.app.digest, "
            "drift_monitor.alerting.channels, drift_monitor.web.pages; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('matplotlib', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
