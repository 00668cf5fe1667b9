"""The digest as one self-contained HTML file: inline CSS and inline SVG charts (charts.py), no
script and no network, so it opens offline, in a mail attachment or from a CI artefact."""

from __future__ import annotations

from html import escape
from typing import Any

from drift_monitor.digest.charts import COLORS, PAGED, charts_for, svg
from drift_monitor.digest.text import fmt_ms, fmt_pct, silence_lines

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #0f172a;
       margin: 24px auto; max-width: 1040px; padding: 0 16px; background: #f8fafc; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
.sub { color: #475569; margin: 0 0 16px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 16px;
        margin-bottom: 16px; }
.stats { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 8px 0 12px; }
.stat { background: #f1f5f9; border-radius: 6px; padding: 8px 10px; }
.stat b { display: block; font-size: 18px; } .stat span { color: #475569; font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; }
.charts svg.chart { width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e2e8f0; }
.pill { display: inline-block; padding: 0 8px; border-radius: 999px; font-size: 12px;
        background: #e2e8f0; }
.legend span { margin-right: 14px; font-size: 12px; color: #475569; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 5px;
            margin-right: 4px; vertical-align: -1px; }
"""


def _stat(value: str, label: str) -> str:
    return f'<div class="stat"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _target(t: dict[str, Any], charts: str) -> str:
    cost = "n/a" if t["cost_usd"] is None else f"${t['cost_usd']:.2f}"
    stats = "".join([
        _stat(f"{t['runs_done']} / {t['runs_missed']} / {t['runs_failed']}",
              "runs done / missed / failed"),
        _stat(f"{t['responses']:,}", "responses"),
        _stat(fmt_pct(t["error_rate"]), "error rate"),
        _stat(f"{fmt_ms(t['latency_p50_ms'])} / {fmt_ms(t['latency_p95_ms'])}",
              "latency p50 / p95"),
        _stat(f"{t['input_tokens']:,} / {t['output_tokens']:,}", "tokens in / out"),
        _stat(cost, "cost"),
        _stat(str(t["checks"]), "checks"),
        _stat(str(t["confirmed_findings"]), "confirmed findings"),
    ])
    stability = "".join(
        f"<tr><td>{escape(d)}</td><td>{'n/a' if s is None else s}</td></tr>"
        for d, s in t["stability"].items())
    models = "".join(f"<tr><td><code>{escape(m)}</code></td><td>{n:,}</td></tr>"
                     for m, n in t["model_strings"].items()) or \
        '<tr><td colspan="2">none</td></tr>'
    incidents = "".join(
        f"<tr><td>#{i['id']}</td><td>{escape(i['dimension'])}</td>"
        f"<td><span class=\"pill\">{escape(i['status'])}</span></td>"
        f"<td>{escape(i['severity'])}</td><td>{escape(i['opened_at'][:16].replace('T', ' '))}</td>"
        f"<td>{escape(i['summary'])}</td></tr>" for i in t["incidents"]) or \
        '<tr><td colspan="6">none</td></tr>'
    return f"""
<section class="card" id="target-{escape(t['name'])}">
  <h2>{escape(t['name'])}</h2>
  <p class="sub">{escape(t['provider'])} <code>{escape(t['model'])}</code>,
     schedule {escape(t['schedule'])}</p>
  <div class="stats">{stats}</div>
  <div class="charts">{charts}</div>
  <h3>Stability per dimension</h3>
  <table><tr><th>dimension</th><th>score (share of checks without confirmed drift)</th></tr>
  {stability}</table>
  <h3>Incidents</h3>
  <table><tr><th>id</th><th>dimension</th><th>status</th><th>severity</th><th>opened (UTC)</th>
  <th>summary</th></tr>{incidents}</table>
  <h3>Model strings seen</h3>
  <table><tr><th>model string</th><th>responses</th></tr>{models}</table>
</section>"""


def render_html(payload: dict[str, Any]) -> str:
    """The digest payload as a complete HTML document."""
    charts = charts_for(payload)
    sections = []
    for t in payload["targets"]:
        mine = "".join(svg(c) for c in charts if c.target == t["name"])
        sections.append(_target(t, mine))
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(d)}</span>'
                     for d, c in COLORS.items())
    legend += f'<span><i style="background:{PAGED}"></i>check with confirmed drift</span>'
    failed = payload.get("failed_notifications") or []
    if failed:
        items = "".join(f"<li>#{n['id']} {escape(n['kind'])} ({escape(n['reason'])}) for "
                        f"{escape(n['target'] or 'all targets')} via {escape(n['channel'])}: "
                        f"{escape(n['error'] or '')}</li>" for n in failed[:20])
        sections.insert(0, f"<section><h2>Notifications that failed permanently "
                           f"({len(failed)})</h2><ul>{items}</ul></section>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Drift digest {escape(payload['start'][:10])} to {escape(payload['end'][:10])}</title>
<style>{CSS}</style></head>
<body>
<h1>Drift digest</h1>
<p class="sub">{escape(payload['start'][:16].replace('T', ' '))} to
{escape(payload['end'][:16].replace('T', ' '))} UTC ({payload['days']} days),
{len(payload['targets'])} target(s). Charts: the drift effect of each check per dimension
(largest effect among its findings at warning or above; 0 = no finding).</p>
<p class="legend">{legend}</p>
{''.join(sections)}
{_silences(payload)}
</body></html>
"""


def _silences(payload: dict[str, Any]) -> str:
    lines = silence_lines(payload)
    if not lines:
        return ""
    items = "".join(f"<li>{escape(line)}</li>" for line in lines)
    return f'<section class="card" id="silences"><h2>Silences</h2><ul>{items}</ul></section>'
