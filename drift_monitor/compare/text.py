"""``compare`` as plain text: the verdict first, then the evidence per dimension."""

from __future__ import annotations

from drift_monitor.alerting.render import finding_lines
from drift_monitor.compare.report import CompareReport, Usage
from drift_monitor.detection.findings import DIMENSIONS
from drift_monitor.probes import probe_name

MAX_PROBE_DIFFS = 10
EXAMPLE_CHARS = 160


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v / 1000:.2f} s"


def _num(v: float | None, fmt: str) -> str:
    return "n/a" if v is None else format(v, fmt)


def usage_line(name: str, u: Usage) -> str:
    cost = "n/a" if u.cost_per_1k is None else f"${u.cost_per_1k:.4f}"
    return (f"  {name}: {u.responses} answers, {u.failed} failed; latency p50 "
            f"{_ms(u.latency_p50_ms)}, p95 {_ms(u.latency_p95_ms)}; output tokens/answer "
            f"{_num(u.output_tokens_mean, '.0f')}; cost per 1,000 probes {cost}"
            + (f" ({u.cost_note})" if u.cost_note else ""))


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXAMPLE_CHARS else flat[:EXAMPLE_CHARS] + " [...]"


def summary_lines(r: CompareReport) -> list[str]:
    """The plain verdict: what the candidate fixes, breaks, changes, and what it costs."""
    lines = [f"Summary: {r.candidate} ({r.candidate_model}) against pinned {r.pinned} "
             f"({r.pinned_model}) on {r.probes} probes"]
    for title, items in (("Fixes", r.fixes), ("Breaks", r.breaks),
                         ("Changes to review", r.changes), ("Costs", r.costs)):
        lines.append(f"  {title}:" + ("" if items else " none found"))
        lines.extend(f"    - {i}" for i in items)
    return lines


def refusal_rows(r: CompareReport) -> list[tuple[str, float, float]]:
    """(suite, pinned rate, candidate rate) for suites where either side refuses at all."""
    b, c = r.refusals
    return [(s, b[s][0], c[s][0]) for s in sorted(set(b) & set(c)) if b[s][0] or c[s][0]]


def render_text(r: CompareReport) -> str:
    how = {True: "reused", False: "run now"}
    lines = summary_lines(r)
    lines += ["", f"Runs: {r.pinned} {r.pinned_runs} ({how[r.pinned_reused]}), {r.candidate} "
                  f"{r.candidate_runs} ({how[r.candidate_reused]})", "",
              "Expectations (share of answers whose probe expectations all hold):"]
    for name, p in zip((r.pinned, r.candidate), r.pass_rates, strict=True):
        suites = ", ".join(f"{s} {rate:.0%} of {n}" for s, (rate, n) in p.per_suite.items())
        overall = "n/a" if p.overall is None else f"{p.overall:.0%} of {p.answers}"
        lines.append(f"  {name}: {overall}" + (f" ({suites})" if suites else ""))
    lines += ["", "Refusals (share of answers the refusal classifier reads as a refusal):"]
    for suite, rb, rc in refusal_rows(r):
        lines.append(f"  {suite}: {r.pinned} {rb:.0%}, {r.candidate} {rc:.0%}")
    lines += ["", "Latency, tokens and cost:", usage_line(r.pinned, r.usage[0]),
              usage_line(r.candidate, r.usage[1])]
    by_dim = r.by_dimension()
    lines += ["", "Differences by dimension (the candidate against the pinned target):"]
    for dim in DIMENSIONS:
        found = by_dim.get(dim, [])
        lines.append(f"{dim}: " + (f"{len(found)} difference(s)" if found else "no difference"))
        for f in found:
            lines.extend(finding_lines(f))
    if r.probe_diffs:
        lines += ["", "Probes whose expectations pass at a different rate:"]
        for d in r.probe_diffs[:MAX_PROBE_DIFFS]:
            lines.append(f"  {probe_name(d.probe)}: {d.pinned:.0%} -> {d.candidate:.0%}")
            lines.append(f"      pinned:    {_one_line(d.example_pinned)}")
            lines.append(f"      candidate: {_one_line(d.example_candidate)}")
        if len(r.probe_diffs) > MAX_PROBE_DIFFS:
            lines.append(f"  ... and {len(r.probe_diffs) - MAX_PROBE_DIFFS} more probes")
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
