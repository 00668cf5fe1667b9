"""Plain-text rendering of a drift alert: what the console channel prints and the demo shows.

Says what changed (dimension, metric, before -> after, confidence), on which probes, one or two
before/after examples, whether the provider's model string changed (if not: a silent update),
and the exact command that accepts the new behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from drift_monitor.detection.check import CheckResult
    from drift_monitor.detection.findings import Finding

EXAMPLE_LINES = 6


def _value(v: object, metric: str) -> str:
    if isinstance(v, float):
        if metric.endswith(("_rate", "accuracy")):
            return f"{v:.0%}"
        return f"{v:.3g}"
    return str(v)


def _confidence(f: Finding) -> str:
    if f.q_value is None:
        return "reported by the provider"
    return f"q = {f.q_value:.1e}"


def _indent(text: str) -> str:
    lines = text.splitlines() or [""]
    if len(lines) > EXAMPLE_LINES:
        lines = lines[:EXAMPLE_LINES] + [f"[... {len(lines) - EXAMPLE_LINES} more lines]"]
    return "\n".join("      | " + line for line in lines)


def finding_lines(f: Finding, *, examples: int = 1) -> list[str]:
    lines = [f"  [{f.severity}] {f.dimension} / {f.metric}"
             + (f" / probe {f.probe}" if f.probe else "") + f": {f.summary}",
             f"      {_value(f.baseline, f.metric)} -> {_value(f.current, f.metric)}, "
             f"{_confidence(f)}"
             + (f", confirmed by {f.confirmed_by.replace('_', ' ')}" if f.confirmed_by
                and f.confirmed_by != "not_required" else "")]
    if f.drifted_probes:
        names = sorted({p.split('/', 1)[-1].split('@', 1)[0] for p in f.drifted_probes})
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        lines.append(f"      probes: {', '.join(names[:5])}{more}")
    for ex in f.examples[:examples]:
        lines.append(f"      example ({ex['probe']}), before:")
        lines.append(_indent(ex["before"]))
        lines.append("      after:")
        lines.append(_indent(ex["after"]))
    return lines


def render_alert(result: CheckResult, *, since: str | None = None) -> str:
    """The alert for a check with confirmed drift, as plain text."""
    paging = [f for f in result.findings if f.confirmed and f.severity != "info"]
    dims = sorted({f.dimension for f in paging})
    head = (f"DRIFT on {result.target}: {', '.join(dims)} changed"
            + (f" (since {since})" if since else ""))
    lines = [head]
    if result.model_string_changed:
        lines.append("The provider's model string changed: this is a reported model change.")
    else:
        lines.append("The provider's model string did not change: this is a silent update.")
    lines.append(f"Compared {result.window_responses} responses (runs {result.window_runs}) "
                 f"with the baseline's {result.baseline_responses} (baseline "
                 f"{result.baseline_id}, runs {result.baseline_runs}).")
    for f in paging:
        lines.extend(finding_lines(f))
    lines.append(f"If the new behaviour is fine: drift-monitor baseline accept --target "
                 f"{result.target}")
    return "\n".join(lines)
