"""A check: the latest window of runs against the pinned baseline, confirmed before it pages.

A finding is page-worthy only when it shows again: in the previous check of a different window
(``second_window``), or in an immediate confirmation round of the probes that drifted
(``confirmation_round``). Metadata findings are facts, not samples, and need no confirmation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drift_monitor.config import Config, TargetConfig
from drift_monitor.detection.analysis import analyse, reconfirm
from drift_monitor.detection.baselines import BaselineError, ensure_baseline
from drift_monitor.detection.findings import Finding
from drift_monitor.detection.samples import Sample, Side, edited_probes
from drift_monitor.errors import DriftMonitorError
from drift_monitor.features import persist
from drift_monitor.probes import ProbeLibrary
from drift_monitor.storage.queries import Store

log = logging.getLogger(__name__)

PAGE_SEVERITIES = ("warning", "critical")


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


def _shows_again(f: Finding, again: list[Finding]) -> bool:
    for g in again:
        if (g.dimension != f.dimension or g.metric != f.metric or g.direction != f.direction
                or g.suite != f.suite):
            continue
        if g.probe == f.probe or g.probe is None:
            return True
    return False


ConfirmRound = Callable[[list[str]], int | None]


def check_target(config: Config, target: TargetConfig, store: Store, *,
                 confirm_round: ConfirmRound | None = None,
                 save: Callable[[dict[str, Any], list[dict[str, Any]], CheckResult], int]
                 | None = None) -> CheckResult:
    """Compare the latest window with the baseline; store the check and its findings.

    ``confirm_round(probe_keys)`` runs a confirmation round of those probes and returns its run
    id (None if it could not run). ``save`` stores the check (defaults to Store.save_check);
    alerting passes its own to write incidents and the outbox in the same transaction.
    Errors the user can act on (no baseline, no window, edited probes) are returned in
    ``CheckResult.error``, not raised.
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
                                        limit=config.settings.detection.window_runs))
    result.window_runs = window
    if not window:
        result.error = (f"target '{target.name}' has no finished run since its baseline "
                        f"(runs {baseline.run_ids}); run 'drift-monitor probe --target "
                        f"{target.name}' first")
        return result
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
    analysis = analyse(base.restricted(common), cur.restricted(common), SPECS)
    result.model_string_changed = analysis.model_string_changed
    result.notes.extend(analysis.notes)
    findings = _confirm(config, store, tid, window, base, analysis.findings, confirm_round,
                        result)
    result.findings = findings
    result.drift = any(f.confirmed and f.severity in PAGE_SEVERITIES for f in findings)
    check_row = {"target_id": tid, "baseline_id": baseline.id,
                 "status": "drift" if result.drift else
                 ("unconfirmed" if any(f.severity in PAGE_SEVERITIES for f in findings)
                  else "ok"),
                 "drift": result.drift, "window_run_ids": window,
                 "baseline_run_ids": baseline.run_ids,
                 "baseline_responses": result.baseline_responses,
                 "window_responses": result.window_responses,
                 "confirmation_run_id": result.confirmation_run,
                 "model_string_changed": result.model_string_changed,
                 "tests_run": analysis.tests_run, "notes": result.notes}
    rows = [_finding_row(f) for f in findings]
    if save is None:
        result.check_id = store.save_check(check_row, rows)
    else:
        result.check_id = save(check_row, rows, result)
    return result


def _confirm(config: Config, store: Store, tid: int, window: list[int], base: Side,
             findings: list[Finding], confirm_round: ConfirmRound | None,
             result: CheckResult) -> list[Finding]:
    previous = store.last_check(tid)
    prev_findings: list[Finding] = []
    if previous is not None and not set(previous[0]["window_run_ids"]) & set(window):
        prev_findings = [Finding(dimension=f["dimension"], metric=f["metric"], probe=f["probe"],
                                 baseline=None, current=None, effect=f["effect"], p_value=None,
                                 q_value=None, severity=f["severity"], summary="",
                                 direction=f["direction"], suite=f["suite"])
                         for f in previous[1]]
    out = list(findings)
    pending: list[int] = []
    for i, f in enumerate(findings):
        if f.dimension == "metadata" or not config.settings.detection.confirm:
            out[i] = f.with_(confirmed=True, confirmed_by="not_required")
        elif _shows_again(f, prev_findings):
            out[i] = f.with_(confirmed=True, confirmed_by="second_window")
        else:
            pending.append(i)
    probes = sorted({p for i in pending for p in findings[i].drifted_probes})
    if probes and confirm_round is not None:
        run_id = confirm_round(probes)
        if run_id is not None:
            from drift_monitor.features import SPECS

            result.confirmation_run = run_id
            conf = load_side(store, [run_id])
            shown = reconfirm(base, conf, [findings[i] for i in pending], SPECS)
            for i, ok in zip(pending, shown, strict=True):
                if ok:
                    out[i] = findings[i].with_(confirmed=True,
                                               confirmed_by="confirmation_round")
    return out


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
