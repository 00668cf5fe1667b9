"""PNG charts without a plotting library: a tiny RGB canvas, lines, dots, 5x7 bitmap text, and
a standard PNG encoder (zlib + CRC, both in the standard library).

Enough for the digest's small multiples uploaded to Slack; the HTML report draws the same
charts as SVG.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from drift_monitor._font5x7 import WIDTH, glyph

if TYPE_CHECKING:
    from drift_monitor.charts import Chart

RGB = tuple[int, int, int]
WHITE, INK, MUTED, GRID, AXIS = (255, 255, 255), (15, 23, 42), (100, 116, 139), \
    (226, 232, 240), (148, 163, 184)


def hex_rgb(color: str) -> RGB:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


class Canvas:
    """An RGB image in memory; coordinates outside it are clipped."""

    def __init__(self, width: int, height: int, background: RGB = WHITE) -> None:
        self.width, self.height = width, height
        self.px = bytearray(bytes(background) * (width * height))

    def set(self, x: int, y: int, color: RGB) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            self.px[i:i + 3] = bytes(color)

    def get(self, x: int, y: int) -> RGB:
        i = 3 * (y * self.width + x)
        return self.px[i], self.px[i + 1], self.px[i + 2]

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: RGB) -> None:
        for y in range(max(0, y0), min(self.height, y1 + 1)):
            for x in range(max(0, x0), min(self.width, x1 + 1)):
                self.set(x, y, color)

    def line(self, x0: float, y0: float, x1: float, y1: float, color: RGB, width: int = 1,
             dash: int = 0) -> None:
        """A straight line (Bresenham), ``width`` pixels thick, dashed every ``dash`` pixels."""
        ax, ay, bx, by = round(x0), round(y0), round(x1), round(y1)
        dx, dy = abs(bx - ax), -abs(by - ay)
        sx, sy = (1 if ax < bx else -1), (1 if ay < by else -1)
        err, n = dx + dy, 0
        while True:
            if not dash or (n // dash) % 2 == 0:
                for o in range(width):
                    self.set(ax + (o if dy < -dx else 0), ay + (0 if dy < -dx else o), color)
            if ax == bx and ay == by:
                break
            e2, n = 2 * err, n + 1
            if e2 >= dy:
                err, ax = err + dy, ax + sx
            if e2 <= dx:
                err, ay = err + dx, ay + sy

    def dot(self, cx: float, cy: float, r: float, color: RGB) -> None:
        for y in range(int(cy - r), int(cy + r) + 1):
            for x in range(int(cx - r), int(cx + r) + 1):
                if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                    self.set(x, y, color)

    def text(self, x: int, y: int, s: str, color: RGB, scale: int = 1,
             anchor: str = "start") -> None:
        """Text with its top-left at (x, y); ``anchor="end"`` puts its right edge at x."""
        advance = (WIDTH + 1) * scale
        if anchor == "end":
            x -= advance * len(s) - scale
        for i, ch in enumerate(s):
            for gx, gy in glyph(ch):
                self.rect(x + i * advance + gx * scale, y + gy * scale,
                          x + i * advance + (gx + 1) * scale - 1, y + (gy + 1) * scale - 1,
                          color)

    def to_png(self) -> bytes:
        """The image as PNG bytes (8-bit RGB, no filtering, zlib-compressed)."""
        stride = 3 * self.width
        raw = b"".join(b"\x00" + bytes(self.px[y * stride:(y + 1) * stride])
                       for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


CHART_W, CHART_H, ROW_LABEL_H, TITLE_H, PAD = 300, 130, 22, 34, 12


def draw_chart(c: Canvas, chart: Chart, ox: int, oy: int) -> None:
    """One small chart with its top-left at (ox, oy)."""
    left, top, w, h = ox + 34, oy + 18, CHART_W - 46, CHART_H - 40
    color = hex_rgb(chart.color)
    c.text(left, oy + 4, chart.dimension, INK)
    c.line(left, top, left + w, top, GRID, dash=3)
    c.line(left, top + h, left + w, top + h, AXIS)
    c.line(left, top, left, top + h, AXIS)
    c.text(left - 4, top - 3, f"{chart.y_max:g}", MUTED, anchor="end")
    c.text(left - 4, top + h - 3, "0", MUTED, anchor="end")
    c.text(left, top + h + 6, "start", MUTED)
    c.text(left + w, top + h + 6, "now", MUTED, anchor="end")
    if not chart.points:
        c.text(left + w // 2 - 24, top + h // 2 - 3, "no checks", MUTED)
        return
    pts = [(left + x * w, top + h - (y / chart.y_max) * h, paged) for x, y, paged in
           chart.points]
    for (x0, y0, _), (x1, y1, _) in zip(pts, pts[1:], strict=False):
        c.line(x0, y0, x1, y1, color, width=2)
    for x, y, paged in pts:
        c.dot(x, y, 3.5 if paged else 2.5, (220, 38, 38) if paged else color)


def render_charts(charts: Sequence[Chart], *, title: str) -> bytes:
    """A PNG of the charts, one row per target, in the order given."""
    targets = list(dict.fromkeys(ch.target for ch in charts))
    per_row = max(sum(ch.target == t for ch in charts) for t in targets)
    width = PAD * 2 + per_row * CHART_W
    height = TITLE_H + len(targets) * (ROW_LABEL_H + CHART_H) + PAD
    c = Canvas(width, height)
    c.text(PAD, PAD, title, INK, scale=2)
    for r, target in enumerate(targets):
        oy = TITLE_H + r * (ROW_LABEL_H + CHART_H)
        c.text(PAD, oy + 6, target, INK, scale=2)
        for i, chart in enumerate(ch for ch in charts if ch.target == target):
            draw_chart(c, chart, PAD + i * CHART_W, oy + ROW_LABEL_H)
    return c.to_png()
