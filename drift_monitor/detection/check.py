"""A check: the latest window of runs against the pinned baseline, with the evidence carried
from earlier checks (see decide.py and sequential.py for what pages and why).

Metadata findings are facts, not samples, and need no confirmation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drift_monitor.config import Config, TargetConfig
from drift_monitor.detection.baselines import ensure_baseline
from drift_monitor.detection.decide import PAGE_SEVERITIES, decide
from drift_monitor.detection.findings import Finding
from drift_monitor.detection.samples import Sample, Side, edited_probes
from drift_monitor.detection.sequential import Evidence
from drift_monitor.errors import BaselineError, DriftMonitorError
from drift_monitor.features import persist
from drift_monitor.probes import ProbeLibrary
from drift_monitor.storage.queries import Store

log = logging.getLogger(__name__)


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


def load_side(store: Store, run_ids: list[int]) -> Side:
    """The runs' responses as samples; features that are missing or stale are computed and
    stored on the way (so a feature-version bump never silently compares old with new)."""
    rows = store.load_responses(run_ids)
    version = persist.current_version()
    fresh: list[tuple[int, dict[str, Any]]] = []
    samples = []
    for r in rows:
        feats = r["values"]
        if r["ok"] and (feats is None or r["feature_set_version"] != version):
            feats = persist.compute(r["text"], (r["content"] or {}).get("expect"))
            fresh.append((r["id"], feats))
        samples.append(Sample(
            probe=f"{r['suite']}/{r['probe_id']}@{r['version']}", run_id=r["run_id"],
            ok=bool(r["ok"]), text=r["text"], features=feats or {},
            error_kind=r["error_kind"], model_returned=r["model_returned"],
            fingerprint=r["fingerprint"], latency_ms=r["latency_ms"],
            finish_reason=r["finish_reason"], output_tokens=r["output_tokens"]))
    if fresh:
        store.save_features(fresh, version)
    return Side(samples)


def _finding_row(f: Finding) -> dict[str, Any]:
    return {"dimension": f.dimension, "metric": f.metric, "probe": f.probe, "suite": f.suite,
            "baseline_value": f.baseline, "current_value": f.current, "effect": f.effect,
            "p_value": f.p_value, "q_value": f.q_value, "severity": f.severity,
            "summary": f.summary, "examples": f.examples, "direction": f.direction,
            "confirmed": f.confirmed, "confirmed_by": f.confirmed_by,
            "details": {k: v for k, v in f.details.items() if _jsonable(v)}
            | {"drifted_probes": list(f.drifted_probes)[:200]}}


def _jsonable(v: Any) -> bool:
    return isinstance(v, str | int | float | bool | list | dict | type(None))


def _stored_finding(f: dict[str, Any]) -> Finding:
    return Finding(dimension=f["dimension"], metric=f["metric"], probe=f["probe"],
                   baseline=f["baseline_value"], current=f["current_value"], effect=f["effect"],
                   p_value=f["p_value"], q_value=f["q_value"], severity=f["severity"],
                   summary=f["summary"], examples=f["examples"] or [],
                   direction=f["direction"], confirmed=f["confirmed"],
                   confirmed_by=f["confirmed_by"], details=f["details"] or {},
                   suite=f["suite"])


ConfirmRound = Callable[[list[str]], int | None]


def check_target(config: Config, target: TargetConfig, store: Store, *,
                 confirm_round: ConfirmRound | None = None,
                 save: Callable[[dict[str, Any], list[dict[str, Any]], CheckResult], int]
                 | None = None) -> CheckResult:
    """Compare the latest window with the baseline; store the check, its findings and the
    sequential evidence carried to the next check.

    The window is the latest ``detection.window_runs`` finished runs *newer than the
    baseline's runs* (after ``baseline accept`` there is none until the next round). A window
    that was already checked is not checked again: the stored result is returned, with no new
    confirmation round and no new rows. ``confirm_round(probe_keys)`` runs a confirmation
    round of those probes and returns its run id (None if it could not run). ``save`` stores
    the check (defaults to Store.save_check); alerting passes its own to write incidents and
    the outbox in the same transaction. Errors the user can act on (no baseline, no window,
    edited probes) are returned in ``CheckResult.error``, not raised.
    """
    from drift_monitor.features import SPECS

    result = CheckResult(target=target.name)
    tid = store.upsert_target(target.name, target.provider, target.model)
    # outage as drift (detection/outage.py): failed rounds never join a window, so they are
    # judged first, on their own
    from drift_monitor.detection.outage_check import outage_check

    outage = outage_check(config, target, store, tid, save)
    if outage is not None:
        return outage
    try:
        baseline = ensure_baseline(store, tid, target.name, config.settings.baseline.min_runs)
    except BaselineError as exc:
        result.error = str(exc)
        return result
    result.baseline_id, result.baseline_runs = baseline.id, baseline.run_ids
    window = sorted(store.finished_runs(tid, newest_first=True, exclude=baseline.run_ids,
                                        after=max(baseline.run_ids, default=None),
                                        limit=config.settings.detection.window_runs))
    result.window_runs = window
    if not window:
        result.error = (f"target '{target.name}' has no finished run since its baseline "
                        f"(runs {baseline.run_ids}); run 'drift-monitor probe --target "
                        f"{target.name}' first")
        return result
    previous = store.last_check(tid)
    if (previous is not None and previous[0]["baseline_id"] == baseline.id
            and sorted(previous[0]["window_run_ids"] or []) == window):
        return _already_checked(result, previous)
    base, cur = load_side(store, baseline.run_ids), load_side(store, window)
    result.baseline_responses, result.window_responses = len(base.ok), len(cur.ok)
    edited = edited_probes(base, cur)
    if edited:
        result.notes.append(f"{len(edited)} probe(s) changed since the baseline and are not "
                            f"compared: {', '.join(edited[:10])}; re-pin with 'drift-monitor "
                            f"baseline set --target {target.name}'")
    common = {s.probe for s in base.samples} & {s.probe for s in cur.samples}
    if not common:
        result.error = (f"no probe answered in the window matches the baseline's probe "
                        f"versions (edited: {', '.join(edited[:10]) or 'none'}); re-pin with "
                        f"'drift-monitor baseline set --target {target.name}'")
        return result
    evidence = Evidence.from_json(store.load_evidence(tid), baseline.id)

    def confirm(probes: list[str]) -> Side | None:
        if confirm_round is None:
            return None
        run_id = confirm_round(probes)
        if run_id is None:
            return None
        result.confirmation_run = run_id
        return load_side(store, [run_id]).restricted(common)

    detection = config.settings.detection
    decision = decide(base.restricted(common), cur.restricted(common), evidence, SPECS,
                      false_pages_per_year=detection.false_pages_per_year,
                      interval_seconds=target.parsed_schedule.mean_interval_seconds(),
                      confirm=confirm if detection.confirm else None,
                      confirm_required=detection.confirm)
    analysis = decision.analysis
    result.model_string_changed = analysis.model_string_changed
    result.notes.extend(decision.notes)
    result.findings = decision.findings
    result.drift = decision.drift
    result.evidence = decision.evidence.to_json()
    check_row = {"target_id": tid, "baseline_id": baseline.id,
                 "status": "drift" if result.drift else
                 ("unconfirmed" if any(f.severity in PAGE_SEVERITIES for f in result.findings)
                  else "ok"),
                 "drift": result.drift, "window_run_ids": window,
                 "baseline_run_ids": baseline.run_ids,
                 "baseline_responses": result.baseline_responses,
                 "window_responses": result.window_responses,
                 "confirmation_run_id": result.confirmation_run,
                 "model_string_changed": result.model_string_changed,
                 "tests_run": analysis.tests_run, "notes": result.notes}
    rows = [_finding_row(f) for f in result.findings]
    if save is None:
        result.check_id = store.save_check(check_row, rows, evidence=result.evidence)
    else:
        result.check_id = save(check_row, rows, result)
    return result


def _already_checked(result: CheckResult,
                     previous: tuple[dict[str, Any], list[dict[str, Any]]]) -> CheckResult:
    row, findings = previous
    result.check_id = row["id"]
    result.drift = bool(row["drift"])
    result.baseline_responses = row["baseline_responses"]
    result.window_responses = row["window_responses"]
    result.confirmation_run = row["confirmation_run_id"]
    result.model_string_changed = bool(row["model_string_changed"])
    result.findings = [_stored_finding(f) for f in findings]
    result.notes = [*(row["notes"] or []),
                    f"this window was already checked (check {row['id']}): its result is shown "
                    f"again, nothing new was stored or sent"]
    result.repeated = True
    return result


def make_confirm_round(config: Config, target: TargetConfig, store: Store,
                       library: ProbeLibrary, **kwargs: Any) -> ConfirmRound:
    """A confirmation round that re-sends exactly the drifted probe versions still defined."""
    from drift_monitor.runner import probe_round

    by_key = {f"{p.suite}/{p.id}@{p.version}": p for s in library.suites.values()
              for p in s.probes}

    def run(probe_keys: list[str]) -> int | None:
        probes = [by_key[k] for k in probe_keys if k in by_key]
        if not probes:
            return None
        try:
            summary = asyncio.run(probe_round(config, target, store, probes,
                                              trigger="confirmation", **kwargs))
        except DriftMonitorError as exc:
            log.warning("confirmation round for %s failed: %s", target.name, exc)
            return None
        return summary.id if summary.ok else None

    return run
