"""Findings and check results as the store keeps them, and back: shared by the drift check
(checks.py) and the outage check (outage.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drift_monitor.detection.findings import Finding
from drift_monitor.detection.result import CheckResult

# stores the check row and its finding rows (and what goes with them in the same transaction:
# alerting.incidents.check_saver); returns the check id
Save = Callable[[dict[str, Any], list[dict[str, Any]], CheckResult], int]


def finding_row(f: Finding) -> dict[str, Any]:
    """The finding as a row for Store.save_check (details that are not JSON are left out)."""
    return {"dimension": f.dimension, "metric": f.metric, "probe": f.probe, "suite": f.suite,
            "baseline_value": f.baseline, "current_value": f.current, "effect": f.effect,
            "p_value": f.p_value, "q_value": f.q_value, "severity": f.severity,
            "summary": f.summary, "examples": f.examples, "direction": f.direction,
            "confirmed": f.confirmed, "confirmed_by": f.confirmed_by,
            "details": {k: v for k, v in f.details.items() if _jsonable(v)}
            | {"drifted_probes": list(f.drifted_probes)[:200]}}


def _jsonable(v: Any) -> bool:
    return isinstance(v, str | int | float | bool | list | dict | type(None))


def stored_finding(f: dict[str, Any]) -> Finding:
    """A stored finding row as the Finding it was saved from."""
    return Finding(dimension=f["dimension"], metric=f["metric"], probe=f["probe"],
                   baseline=f["baseline_value"], current=f["current_value"], effect=f["effect"],
                   p_value=f["p_value"], q_value=f["q_value"], severity=f["severity"],
                   summary=f["summary"], examples=f["examples"] or [],
                   direction=f["direction"], confirmed=f["confirmed"],
                   confirmed_by=f["confirmed_by"], details=f["details"] or {},
                   suite=f["suite"])


def already_checked(result: CheckResult,
                    previous: tuple[dict[str, Any], list[dict[str, Any]]]) -> CheckResult:
    """``result`` filled from the stored check of the same window (Store.last_check), marked
    ``repeated``: nothing new is stored or sent for it."""
    row, findings = previous
    result.check_id = row["id"]
    result.drift = bool(row["drift"])
    result.baseline_responses = row["baseline_responses"]
    result.window_responses = row["window_responses"]
    result.confirmation_run = row["confirmation_run_id"]
    result.model_string_changed = bool(row["model_string_changed"])
    result.findings = [stored_finding(f) for f in findings]
    result.notes = [*(row["notes"] or []),
                    f"this window was already checked (check {row['id']}): its result is shown "
                    f"again, nothing new was stored or sent"]
    result.repeated = True
    return result
