"""What a notification says, as a channel-neutral JSON payload stored in the outbox.

Channels render it at send time (Block Kit for Slack, plain text for the console). A payload holds
what the reader needs and nothing secret: target and dimension, what changed (metric, before ->
after, confidence), since when, on which probes, one or two before/after examples, whether the
provider's model string changed, and the exact command that accepts the new behaviour.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from drift_monitor.alerting.control import control_lines
from drift_monitor.detection.findings import Finding, clip, rounded, severity_rank
from drift_monitor.probes import probe_name
from drift_monitor.storage.rows import IncidentRow

if TYPE_CHECKING:
    from drift_monitor.detection.result import CheckResult

MAX_FINDINGS = 12  # per message; the rest are counted ("and 4 more findings")
MAX_PROBES = 5  # probe names listed per finding
MAX_EXAMPLES = 2
STORED_EXAMPLE_CHARS = 4000  # bounds the outbox row; channels truncate further to fit


def accept_command(target: str) -> str:
    return f"drift-monitor baseline accept --target {target}"


def finding_entry(f: Finding) -> dict[str, Any]:
    probes = sorted({probe_name(p) for p in f.drifted_probes})
    if not probes and f.probe:
        probes = [probe_name(f.probe)]
    return {"metric": f.metric, "probe": f.probe, "suite": f.suite,
            "baseline": rounded(f.baseline), "current": rounded(f.current),
            "effect": rounded(f.effect), "q_value": rounded(f.q_value), "severity": f.severity,
            "summary": f.summary,
            "confirmed_by": f.confirmed_by, "observations": f.details.get("observations"),
            "probes": probes[:MAX_PROBES], "probe_count": len(probes)}


def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t is not None else None


def model_strings(result: CheckResult) -> dict[str, Any] | None:
    """The model strings before and after, when the provider reported a new one."""
    for f in result.findings:
        if f.dimension == "metadata" and f.metric == "model_returned":
            return {"before": f.baseline, "after": f.current}
    return None


def alert_payload(result: CheckResult, items: list[tuple[IncidentRow, str, list[Finding]]],
                  now: datetime, *, control: dict[str, Any] | None = None,
                  model: str | None = None) -> dict[str, Any]:
    """One alert for the incidents a check decided to announce, as (incident, reason, its
    findings); grouped so one check pages once however many dimensions moved. ``control`` is
    alerting.control.control_status of the target's control arm (None without one) and
    ``model`` the target's configured model, named when the provider changed it."""
    incidents: list[dict[str, Any]] = []
    examples: list[dict[str, str]] = []
    for incident, reason, findings in items:
        ordered = sorted(findings, key=lambda f: (-severity_rank(f.severity),
                                                  -abs(f.effect or 0)))
        for f in ordered:
            for ex in f.examples[:1]:
                if len(examples) < MAX_EXAMPLES:
                    examples.append({"metric": f.metric,
                                     "probe": probe_name(ex.get("probe", "")),
                                     "before": clip(ex.get("before"), STORED_EXAMPLE_CHARS),
                                     "after": clip(ex.get("after"), STORED_EXAMPLE_CHARS)})
        incidents.append({
            "incident_id": incident.id, "dimension": incident.dimension,
            "severity": incident.severity, "reason": reason,
            "opened_at": _iso(incident.opened_at),
            "findings": [finding_entry(f) for f in ordered[:MAX_FINDINGS]],
            "more_findings": max(0, len(ordered) - MAX_FINDINGS)})
    severity = max((i["severity"] for i in incidents), key=severity_rank)
    return {
        "kind": "alert", "reason": main_reason([i["reason"] for i in incidents]),
        "target": result.target, "severity": severity, "incidents": incidents,
        "dimensions": [i["dimension"] for i in incidents],
        "opened_at": min(i["opened_at"] or "" for i in incidents), "sent_at": _iso(now),
        "check_id": result.check_id, "baseline_id": result.baseline_id,
        "baseline_runs": result.baseline_runs,
        "baseline_responses": result.baseline_responses, "window_runs": result.window_runs,
        "window_responses": result.window_responses,
        "model_string_changed": result.model_string_changed,
        "model_strings": model_strings(result),
        "outage": any(f.metric == "outage" for f in result.findings),
        "examples": examples, "accept_command": accept_command(result.target),
        "control": control,
        "control_lines": control_lines(control, [i["dimension"] for i in incidents],
                                       model or result.target),
    }


REASON_ORDER = ("first_notification", "changed", "repeat_interval_elapsed", "resolved",
                "accepted")


def main_reason(reasons: list[str]) -> str:
    """The reason a grouped message leads with: new beats changed beats repeat."""
    return min(reasons, key=lambda r: REASON_ORDER.index(r) if r in REASON_ORDER else 99)


def closed_payload(kind: str, target: str, items: list[tuple[IncidentRow, str]],
                   now: datetime, *, check_id: int | None = None,
                   baseline_id: int | None = None,
                   baseline_runs: list[int] | None = None) -> dict[str, Any]:
    """A ``resolved`` or ``accepted`` message for incidents that were announced."""
    return {"kind": kind, "reason": main_reason([r for _, r in items]), "target": target,
            "incidents": [{"incident_id": i.id, "dimension": i.dimension,
                           "severity": i.severity, "summary": i.summary,
                           "opened_at": _iso(i.opened_at), "reason": r} for i, r in items],
            "dimensions": [i.dimension for i, _ in items],
            "closed_at": _iso(now), "sent_at": _iso(now), "check_id": check_id,
            "baseline_id": baseline_id, "baseline_runs": baseline_runs or []}
