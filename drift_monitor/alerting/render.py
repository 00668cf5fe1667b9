"""Plain-text rendering of alerts: what the console channel prints, the demo shows, and Slack
uses as a message's notification text.

Says what changed (dimension, metric, before -> after, confidence), on which probes, one or two
before/after examples, whether the provider's model string changed (if not: a silent update),
and the exact command that accepts the new behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drift_monitor.alerting.links import text_links
from drift_monitor.digest.text import render_digest_text
from drift_monitor.probes import probe_name

if TYPE_CHECKING:
    from drift_monitor.detection.findings import Finding

EXAMPLE_LINES = 6


def _value(v: object, metric: str) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if metric.endswith(("_rate", "accuracy", "outage")):
            return f"{v:.0%}"
        return f"{v:.3g}"
    return str(v)


def confidence(q_value: float | None, confirmed_by: str | None,
               observations: int | None = None) -> str:
    """How sure a finding is, in words: its q-value, the evidence that made it page, and what
    confirmed it (one wording for the console, the outbox text and Slack)."""
    parts = []
    if q_value is not None:
        parts.append(f"q = {q_value:.1e}")
    if confirmed_by in ("sequential", "confirmation_round") and observations:
        parts.append(f"evidence from {observations} windows")
    if not parts:
        parts.append("reported by the provider" if confirmed_by == "not_required"
                     else "below the per-check bar")
    if confirmed_by and confirmed_by != "not_required":
        parts.append(f"confirmed by {confirmed_by.replace('_', ' ')}")
    return ", ".join(parts)


def _indent(text: str) -> str:
    lines = text.splitlines() or [""]
    if len(lines) > EXAMPLE_LINES:
        lines = lines[:EXAMPLE_LINES] + [f"[... {len(lines) - EXAMPLE_LINES} more lines]"]
    return "\n".join("      | " + line for line in lines)


def finding_lines(f: Finding, *, examples: int = 1) -> list[str]:
    lines = [f"  [{f.severity}] {f.dimension} / {f.metric}"
             + (f" / probe {f.probe}" if f.probe else "") + f": {f.summary}",
             f"      {_value(f.baseline, f.metric)} -> {_value(f.current, f.metric)}, "
             + confidence(f.q_value, f.confirmed_by, f.details.get("observations"))]
    if f.drifted_probes:
        names = sorted({probe_name(p) for p in f.drifted_probes})
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        lines.append(f"      probes: {', '.join(names[:5])}{more}")
    for ex in f.examples[:examples]:
        lines.append(f"      example ({ex['probe']}), before:")
        lines.append(_indent(ex["before"]))
        lines.append("      after:")
        lines.append(_indent(ex["after"]))
    return lines


# --- outbox payloads as plain text (the console channel and Slack's notification text) -------

def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:16] + " UTC" if iso else "?"


def payload_finding_lines(f: dict[str, Any]) -> list[str]:
    # the summary already says where (suite or probe)
    sure = confidence(f.get("q_value"), f.get("confirmed_by"), f.get("observations"))
    lines = [f"  [{f['severity']}] {f['metric']}: {f['summary']}",
             f"      {_value(f['baseline'], f['metric'])} -> {_value(f['current'], f['metric'])}"
             f", {sure}"]
    if f.get("probes"):
        more = f" and {f['probe_count'] - len(f['probes'])} more" \
            if f["probe_count"] > len(f["probes"]) else ""
        lines.append(f"      probes: {', '.join(f['probes'])}{more}")
    return lines


def model_string_line(p: dict[str, Any]) -> str:
    if p.get("outage"):
        return ("Calls to the provider are failing: an outage, not a behaviour change. It "
                "resolves by itself once calls succeed (fix the key, quota or deployment).")
    if p.get("model_string_changed"):
        ms = p.get("model_strings") or {}
        return (f"The provider's model string changed ({ms.get('before')} -> "
                f"{ms.get('after')}): this is a reported model change.")
    return "The provider's model string did not change: this is a silent update."


REASON_WORDS = {"first_notification": "new", "changed": "changed",
                "repeat_interval_elapsed": "still drifting", "resolved": "resolved",
                "accepted": "accepted"}


def render_payload(p: dict[str, Any]) -> str:
    """An outbox payload (alert, resolved, accepted or digest) as plain text."""
    kind = p.get("kind")
    if kind == "digest":
        return render_digest_text(p)
    dims = ", ".join(p.get("dimensions", []))
    if kind in ("resolved", "accepted"):
        how = ("a clean check found no drift of these dimensions" if kind == "resolved" else
               f"the new behaviour was accepted: baseline {p.get('baseline_id')} now pins runs "
               f"{p.get('baseline_runs')}")
        lines = [f"{kind.upper()} on {p['target']}: {dims}", f"{how}."]
        lines += [f"  {i['dimension']} (incident {i['incident_id']}, open since "
                  f"{_when(i.get('opened_at'))}): was {i['summary']}" for i in p["incidents"]]
        return "\n".join(lines + text_links(p))
    lines = [f"DRIFT on {p['target']}: {dims} changed ({p['severity']}), since "
             f"{_when(p.get('opened_at'))} [{REASON_WORDS.get(p['reason'], p['reason'])}]",
             model_string_line(p),
             *p.get("control_lines", []),
             f"Compared {p['window_responses']} responses (runs {p['window_runs']}) with the "
             f"baseline's {p['baseline_responses']} (baseline {p['baseline_id']}, runs "
             f"{p['baseline_runs']})."]
    for inc in p["incidents"]:
        lines.append(f"{inc['dimension']} ({inc['severity']}, "
                     f"{REASON_WORDS.get(inc['reason'], inc['reason'])}, incident "
                     f"{inc['incident_id']}, since {_when(inc.get('opened_at'))}):")
        for f in inc["findings"]:
            lines.extend(payload_finding_lines(f))
        if inc.get("more_findings"):
            lines.append(f"  ... and {inc['more_findings']} more findings")
    for ex in p.get("examples", []):
        lines.append(f"Example ({ex['probe']}, {ex['metric']}), before:")
        lines.append(_indent(ex["before"]))
        lines.append("after:")
        lines.append(_indent(ex["after"]))
    if not (p.get("outage") and p.get("dimensions") == ["operational"]):
        # an outage alone is fixed at the provider, not accepted as a baseline
        lines.append(f"If the new behaviour is fine: {p['accept_command']}")
    return "\n".join(lines + text_links(p))
