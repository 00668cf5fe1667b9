"""A check, wired: the latest window of runs against the pinned baseline, with the evidence
carried from earlier checks; stored with its findings, the incident changes and the
notifications they queue, in one transaction.

The decision itself is pure (detection/decide.py; see sequential.py for what pages and why):
this module loads both sides (computing features that are missing), runs the confirmation
round the decision asks for and stores what it decided. Metadata findings are facts, not
samples, and need no confirmation.
"""

from __future__ import annotations

from collections.abc import Sequence

from drift_monitor.alerting.incidents import Decision, check_saver
from drift_monitor.app.baselines import ensure_baseline
from drift_monitor.app.features import fill_missing
from drift_monitor.app.outage import outage_check
from drift_monitor.app.rounds import ConfirmRound, confirm_round
from drift_monitor.app.stored import Save, already_checked, finding_row
from drift_monitor.config import Config, TargetConfig
from drift_monitor.detection.decide import decide
from drift_monitor.detection.findings import PAGE_SEVERITIES
from drift_monitor.detection.result import CheckResult
from drift_monitor.detection.samples import Sample, Side, edited_probes
from drift_monitor.detection.sequential import Evidence
from drift_monitor.errors import BaselineError
from drift_monitor.features import SPECS
from drift_monitor.probes import ProbeKey, ProbeLibrary
from drift_monitor.storage.queries import Store

__all__ = ["CheckResult", "load_side", "run_check", "run_checks"]


def load_side(store: Store, run_ids: list[int]) -> Side:
    """The runs' responses as samples. Features that are missing or stale are computed and
    stored first (app/features.py), so detection only ever reads current values."""
    rows = store.load_responses(run_ids)
    fresh = fill_missing(store, rows)
    return Side([Sample(
        probe=str(ProbeKey(r['suite'], r['probe_id'], r['version'])), run_id=r["run_id"],
        ok=bool(r["ok"]), text=r["text"], features=fresh.get(r["id"], r["values"]) or {},
        error_kind=r["error_kind"], model_returned=r["model_returned"],
        fingerprint=r["fingerprint"], latency_ms=r["latency_ms"],
        finish_reason=r["finish_reason"], output_tokens=r["output_tokens"]) for r in rows])


def run_check(config: Config, target: TargetConfig, store: Store, *,
              confirm: ConfirmRound | None = None, notify: bool = True,
              decisions: list[Decision] | None = None, save: Save | None = None) -> CheckResult:
    """Compare the latest window with the baseline; store the check, its findings, the
    sequential evidence carried to the next check, and the incident changes and queued
    notifications (alerting.incidents.check_saver; none queued with ``notify=False``), all in
    one transaction. The incident decisions are appended to ``decisions`` when given.

    The window is the latest ``detection.window_runs`` finished runs *newer than the
    baseline's runs* (after ``baseline accept`` there is none until the next round). A window
    that was already checked is not checked again: the stored result is returned, with no new
    confirmation round and no new rows. ``confirm(probe_keys)`` runs a confirmation round of
    those probes and returns its run id (None if it could not run; app.rounds.confirm_round
    makes one); without it nothing is confirmed. ``save`` replaces check_saver (for a caller
    with a clock of its own). Errors the user can act on (no baseline, no window, edited probes)
    are returned in ``CheckResult.error``, not raised; the database's errors are raised.
    """
    if save is None:
        save = check_saver(config, store, notify=notify, decisions=decisions)
    result = CheckResult(target=target.name)
    tid = store.upsert_target(target.name, target.provider, target.model)
    # outage as drift (detection/outage.py): failed rounds never join a window, so they are
    # judged first, on their own
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
        return already_checked(result, previous)
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

    def confirmation(probes: list[str]) -> Side | None:
        if confirm is None:
            return None
        run_id = confirm(probes)
        if run_id is None:
            return None
        result.confirmation_run = run_id
        return load_side(store, [run_id]).restricted(common)

    detection = config.settings.detection
    decision = decide(base.restricted(common), cur.restricted(common), evidence, SPECS,
                      false_pages_per_year=detection.false_pages_per_year,
                      interval_seconds=target.parsed_schedule.mean_interval_seconds(),
                      confirm=confirmation if detection.confirm else None,
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
    rows = [finding_row(f) for f in result.findings]
    result.check_id = save(check_row, rows, result)
    return result


def run_checks(config: Config, store: Store, targets: Sequence[TargetConfig],
               library: ProbeLibrary, *, notify: bool = True,
               decisions: list[Decision] | None = None) -> list[CheckResult]:
    """run_check for each target, a control arm before the targets it controls (so their alerts
    read its check of this round, not the previous one), each with a confirmation round of the
    drifted probe versions still in ``library``. Results are in the order checked."""
    save = check_saver(config, store, notify=notify, decisions=decisions)
    controls = {t.control for t in config.targets()}
    probes = [p for suite in library.suites.values() for p in suite.probes]
    return [run_check(config, t, store, confirm=confirm_round(config, t, store, probes),
                      save=save)
            for t in sorted(targets, key=lambda t: t.name not in controls)]
