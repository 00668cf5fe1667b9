"""What a notification says, as a channel-neutral JSON payload stored in the outbox.

Channels render it at send time (Block Kit for Slack, plain text for the console). A payload holds
what the reader needs and nothing secret: target and dimension, what changed (metric, before ->
after, confidence), since when, on which probes, one or two before/after examples, whether the
provider's model string changed, and the exact command that accepts the new behaviour.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from drift_monitor.detection.findings import Finding, severity_rank

if TYPE_CHECKING:
    from drift_monitor.detection.check import CheckResult

MAX_FINDINGS = 12  # per message; the rest are counted ("and 4 more findings")
MAX_PROBES = 8  # probe names listed per finding
MAX_EXAMPLES = 2
STORED_EXAMPLE_CHARS = 4000  # bounds the outbox row; channels truncate further to fit


def accept_command(target: str) -> str:
    return f"drift-monitor baseline accept --target {target}"


def probe_name(key: str) -> str:
    """``suite/probe-id@version`` -> ``probe-id``."""
    return key.split("/", 1)[-1].split("@", 1)[0]


def _num(v: Any) -> Any:
    if isinstance(v, float):
        return float(f"{v:.4g}")
    return v


def _clip(text: str | None, limit: int = STORED_EXAMPLE_CHARS) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more chars]"


def finding_entry(f: Finding) -> dict[str, Any]:
    probes = sorted({probe_name(p) for p in f.drifted_probes})
    if not probes and f.probe:
        probes = [probe_name(f.probe)]
    return {"metric": f.metric, "probe": f.probe, "suite": f.suite,
            "baseline": _num(f.baseline), "current": _num(f.current), "effect": _num(f.effect),
            "q_value": _num(f.q_value), "severity": f.severity, "summary": f.summary,
            "confirmed_by": f.confirmed_by, "probes": probes[:MAX_PROBES],
            "probe_count": len(probes)}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t is not None else None


def model_strings(result: CheckResult) -> dict[str, Any] | None:
    """The model strings before and after, when the provider reported a new one."""
    for f in result.findings:
        if f.dimension == "metadata" and f.metric == "model_returned":
            return {"before": f.baseline, "after": f.current}
    return None


def alert_payload(result: CheckResult, incident: dict[str, Any], findings: list[Finding],
                  reason: str, now: datetime) -> dict[str, Any]:
    """An alert for ``incident`` from the check in ``result`` and the incident's findings."""
    ordered = sorted(findings, key=lambda f: (-severity_rank(f.severity), -abs(f.effect or 0)))
    examples = []
    for f in ordered:
        for ex in f.examples:
            if len(examples) < MAX_EXAMPLES:
                examples.append({"metric": f.metric, "probe": probe_name(ex.get("probe", "")),
                                 "before": _clip(ex.get("before")),
                                 "after": _clip(ex.get("after"))})
    return {
        "kind": "alert", "reason": reason, "target": result.target,
        "dimension": incident["dimension"], "severity": incident["severity"],
        "incident_id": incident["id"], "opened_at": _iso(incident["opened_at"]),
        "sent_at": _iso(now), "check_id": result.check_id,
        "baseline_id": result.baseline_id, "baseline_runs": result.baseline_runs,
        "baseline_responses": result.baseline_responses, "window_runs": result.window_runs,
        "window_responses": result.window_responses,
        "model_string_changed": result.model_string_changed,
        "model_strings": model_strings(result),
        "findings": [finding_entry(f) for f in ordered[:MAX_FINDINGS]],
        "more_findings": max(0, len(ordered) - MAX_FINDINGS),
        "examples": examples, "accept_command": accept_command(result.target),
    }


def closed_payload(kind: str, target: str, incident: dict[str, Any], reason: str,
                   now: datetime, *, check_id: int | None = None,
                   baseline_id: int | None = None,
                   baseline_runs: list[int] | None = None) -> dict[str, Any]:
    """A ``resolved`` or ``accepted`` message for an incident that was announced."""
    return {"kind": kind, "reason": reason, "target": target,
            "dimension": incident["dimension"], "severity": incident["severity"],
            "incident_id": incident["id"], "summary": incident["summary"],
            "opened_at": _iso(incident["opened_at"]), "closed_at": _iso(now),
            "sent_at": _iso(now), "check_id": check_id, "baseline_id": baseline_id,
            "baseline_runs": baseline_runs or []}
