"""``compare --html``: the report as one self-contained HTML file (inline CSS and SVG, no
scripts, no external resources), so it opens offline and can be attached to a ticket."""

from __future__ import annotations

from html import escape

from drift_monitor.compare.report import CompareReport, Usage
from drift_monitor.compare.text import MAX_PROBE_DIFFS, refusal_rows
from drift_monitor.detection.findings import DIMENSIONS, Finding, clip
from drift_monitor.probes import probe_name

EXAMPLE_CHARS = 1200
CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1d232a}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
td,th{border:1px solid #dde;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f3f5f8}.fix{color:#116329}.break{color:#b42318}.change{color:#8a5a00}
.sev-critical{color:#b42318;font-weight:600}.sev-warning{color:#8a5a00;font-weight:600}
pre{white-space:pre-wrap;background:#f6f8fa;border:1px solid #e1e4e8;padding:.5em;margin:0;
font-size:12.5px;max-height:16em;overflow:auto}.muted{color:#667}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:.6em}
"""


def _shown(text: str | None) -> str:
    """An example answer, clipped visibly and escaped for a <pre>."""
    return escape(clip(text, EXAMPLE_CHARS))


def _bar(label: str, value: float | None, colour: str) -> str:
    """One horizontal bar of a 0..1 rate, as inline SVG."""
    width = 0 if value is None else round(300 * value)
    text = "n/a" if value is None else f"{value:.0%}"
    return (f'<svg width="420" height="22" role="img" aria-label="{escape(label)} {text}">'
            f'<rect x="0" y="3" width="300" height="16" fill="#eef1f5"/>'
            f'<rect x="0" y="3" width="{width}" height="16" fill="{colour}"/>'
            f'<text x="308" y="16" font-size="13">{escape(text)}</text></svg>')


def _usage_row(name: str, u: Usage) -> str:
    def s(v: float | None) -> str:
        return "n/a" if v is None else f"{v / 1000:.2f} s"

    cost = "n/a" if u.cost_per_1k is None else f"${u.cost_per_1k:.4f}"
    tokens = "n/a" if u.output_tokens_mean is None else f"{u.output_tokens_mean:.0f}"
    note = f' <span class="muted">({escape(u.cost_note)})</span>' if u.cost_note else ""
    return (f"<tr><td>{escape(name)}</td><td>{u.responses}</td><td>{u.failed}</td>"
            f"<td>{s(u.latency_p50_ms)}</td><td>{s(u.latency_p95_ms)}</td><td>{tokens}</td>"
            f"<td>{cost}{note}</td></tr>")


def _finding(f: Finding) -> str:
    probes = sorted({probe_name(p) for p in f.drifted_probes})
    listed = ", ".join(escape(p) for p in probes[:8]) + (
        f" and {len(probes) - 8} more" if len(probes) > 8 else "")
    out = [f'<tr><td class="sev-{escape(f.severity)}">{escape(f.severity)}</td>'
           f"<td>{escape(f.metric)}</td><td>{escape(f.suite or '')}</td>"
           f"<td>{escape(f.summary)}" + (f"<br><span class='muted'>probes: {listed}</span>"
                                         if listed else "") + "</td></tr>"]
    for ex in f.examples[:2]:
        out.append(f'<tr><td colspan="4"><div class="muted">example: '
                   f'{escape(probe_name(ex.get("probe", "")))}</div><div class="grid">'
                   f'<div><b>pinned</b><pre>{_shown(ex.get("before"))}</pre></div>'
                   f'<div><b>candidate</b><pre>{_shown(ex.get("after"))}</pre></div>'
                   "</div></td></tr>")
    return "".join(out)


def render_html(r: CompareReport) -> str:
    """The whole report as an HTML document string."""
    how = {True: "reused", False: "run now"}
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>compare {escape(r.candidate)} vs {escape(r.pinned)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{escape(r.candidate)} <span class='muted'>({escape(r.candidate_model)})"
             f"</span> against pinned {escape(r.pinned)} <span class='muted'>"
             f"({escape(r.pinned_model)})</span></h1>",
             f"<p class='muted'>{r.probes} common probes; runs {r.pinned_runs} "
             f"({how[r.pinned_reused]}) and {r.candidate_runs} ({how[r.candidate_reused]})."
             "</p><h2>Summary</h2>"]
    for title, cls, items in (("Fixes", "fix", r.fixes), ("Breaks", "break", r.breaks),
                              ("Changes to review", "change", r.changes),
                              ("Costs", "", r.costs)):
        parts.append(f"<h3 class='{cls}'>{title}</h3>")
        parts.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
                     if items else "<p class='muted'>none found</p>")
    parts.append("<h2>Expectations</h2><p class='muted'>share of answers whose probe "
                 "expectations (format, instructions, reference answer) all hold</p><table>"
                 "<tr><th>suite</th><th>" + escape(r.pinned) + "</th><th>" +
                 escape(r.candidate) + "</th></tr>")
    pb, pc = r.pass_rates
    parts.append(f"<tr><td><b>all</b></td><td>{_bar('pinned', pb.overall, '#6b8bd6')}</td>"
                 f"<td>{_bar('candidate', pc.overall, '#d68b3b')}</td></tr>")
    for suite in sorted(set(pb.per_suite) | set(pc.per_suite)):
        b = pb.per_suite.get(suite, (None, 0))[0]
        c = pc.per_suite.get(suite, (None, 0))[0]
        parts.append(f"<tr><td>{escape(suite)}</td><td>{_bar('pinned', b, '#6b8bd6')}</td>"
                     f"<td>{_bar('candidate', c, '#d68b3b')}</td></tr>")
    parts.append("</table><h2>Refusals</h2><p class='muted'>share of answers the refusal "
                 "classifier reads as a refusal</p><table><tr><th>suite</th><th>"
                 + escape(r.pinned) + "</th><th>" + escape(r.candidate) + "</th></tr>")
    for suite, rb, rc in refusal_rows(r):
        parts.append(f"<tr><td>{escape(suite)}</td><td>{_bar('pinned', rb, '#6b8bd6')}</td>"
                     f"<td>{_bar('candidate', rc, '#d68b3b')}</td></tr>")
    parts.append("</table><h2>Latency, tokens and cost</h2><table><tr><th>target</th>"
                 "<th>answers</th><th>failed</th><th>latency p50</th><th>latency p95</th>"
                 "<th>output tokens / answer</th><th>cost per 1,000 probes</th></tr>"
                 + _usage_row(r.pinned, r.usage[0]) + _usage_row(r.candidate, r.usage[1])
                 + "</table><h2>Differences by dimension</h2>")
    by_dim = r.by_dimension()
    for dim in DIMENSIONS:
        found = by_dim.get(dim, [])
        parts.append(f"<h3>{escape(dim)}</h3>")
        if not found:
            parts.append("<p class='muted'>no difference</p>")
            continue
        parts.append("<table><tr><th>severity</th><th>metric</th><th>suite</th>"
                     "<th>what changed</th></tr>" + "".join(_finding(f) for f in found)
                     + "</table>")
    if r.probe_diffs:
        parts.append("<h2>Probes whose expectations pass at a different rate</h2><table>"
                     "<tr><th>probe</th><th>pinned</th><th>candidate</th></tr>")
        for d in r.probe_diffs[:MAX_PROBE_DIFFS]:
            parts.append(f"<tr><td>{escape(probe_name(d.probe))}</td><td>{d.pinned:.0%}<pre>"
                         f"{_shown(d.example_pinned)}</pre></td><td>{d.candidate:.0%}"
                         f"<pre>{_shown(d.example_candidate)}</pre></td></tr>")
        parts.append("</table>")
    parts += [f"<p class='muted'>note: {escape(n)}</p>" for n in r.notes]
    parts.append("</body></html>")
    return "\n".join(parts)
