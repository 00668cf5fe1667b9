"""What a check found: the result the application layer fills in and alerting reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drift_monitor.detection.findings import Finding


@dataclass
class CheckResult:
    target: str
    drift: bool = False
    baseline_id: int | None = None
    baseline_runs: list[int] = field(default_factory=list)
    baseline_responses: int = 0
    window_runs: list[int] = field(default_factory=list)
    window_responses: int = 0
    findings: list[Finding] = field(default_factory=list)
    model_string_changed: bool = False
    confirmation_run: int | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    check_id: int | None = None
    # the dimensions this check measured (None: all); an outage check measures only
    # operational, so it never resolves another dimension's incident
    scope: tuple[str, ...] | None = None
    evidence: dict[str, Any] | None = None  # the sequential evidence to store with the check
    repeated: bool = False  # the window had been checked already: nothing new was stored

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target, "drift": self.drift,
            "baseline": {"id": self.baseline_id, "runs": self.baseline_runs,
                         "responses": self.baseline_responses},
            "window": {"runs": self.window_runs, "responses": self.window_responses},
            "findings": [f.to_json() for f in self.findings],
            "model_string_changed": self.model_string_changed,
            "confirmation_run": self.confirmation_run, "notes": self.notes,
        }
        if self.error:
            out["error"] = self.error
        return out
