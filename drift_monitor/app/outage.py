"""The outage rule wired to the database: called first by every check (app/checks.py).

When the target's newest rounds keep failing, the check is an *outage check*: it stores the
outage finding (detection/outage.py) and touches only the ``operational`` incident, so an open
formatting incident is neither resolved nor repeated by an outage. When calls succeed again
after an outage incident, a *recovery check* resolves it (also scoped to ``operational``), and
the normal drift check runs on as usual.
"""

from __future__ import annotations

import logging
import os

from drift_monitor.app.stored import Save, already_checked, finding_row
from drift_monitor.config import Config, TargetConfig
from drift_monitor.detection.outage import METRIC, RoundOutcome, outage_finding, recovered
from drift_monitor.detection.result import CheckResult
from drift_monitor.redaction import redact
from drift_monitor.storage.queries import Store

log = logging.getLogger(__name__)
SCOPE = ("operational",)
# rounds that sent nothing (the daily budget) are skipped: look a little further back
LOOKBACK_EXTRA = 5


def _rounds(config: Config, target: TargetConfig, store: Store,
            tid: int) -> list[RoundOutcome]:
    need = config.settings.detection.outage_rounds
    secrets = [os.environ.get(target.api_key_env, "")] if target.api_key_env else []
    out = []
    for r in store.recent_round_outcomes(tid, need + LOOKBACK_EXTRA):
        # stored details are redacted already; a second pass costs nothing
        out.append(RoundOutcome(**{**r, "message": redact(r["message"], secrets)}))
    return out


def _outage_incident_open(store: Store, tid: int) -> bool:
    return any(i.dimension == "operational" and i.status == "open"
               and any(k.startswith(f"{METRIC}|") for k in (i.finding_keys or []))
               for i in store.incidents(target_id=tid, status="open"))


def outage_check(config: Config, target: TargetConfig, store: Store, tid: int,
                 save: Save) -> CheckResult | None:
    """The stored outage check when the target is failing (the caller returns it as the
    check's result); None otherwise, after storing a recovery check when calls succeed again
    after an outage incident."""
    detection = config.settings.detection
    rounds = _rounds(config, target, store, tid)
    finding = outage_finding(rounds, rounds_needed=detection.outage_rounds,
                             error_rate=detection.outage_error_rate)
    if finding is None and not (recovered(rounds, error_rate=detection.outage_error_rate)
                                and _outage_incident_open(store, tid)):
        return None
    baseline = store.active_baseline(tid)
    result = CheckResult(target=target.name, scope=SCOPE)
    if baseline is not None:
        result.baseline_id, result.baseline_runs = baseline
    if finding is not None:
        result.findings = [finding]
        result.drift = True
        result.window_runs = sorted(finding.details["runs"])
        result.notes.append(f"outage: {finding.summary}")
        previous = store.last_check(tid)
        if (previous is not None and sorted(previous[0]["window_run_ids"] or [])
                == result.window_runs and any(f["metric"] == METRIC for f in previous[1])):
            # the same failing rounds were judged already: nothing new is stored or sent
            return already_checked(result, previous)
    else:
        newest = next(r for r in rounds if r.sent > 0)
        # no window of its own: the drift check that follows judges that run as usual (a
        # window here would make it look already checked)
        result.window_runs = []
        result.notes.append(f"outage over: run {newest.run_id} answered "
                            f"{newest.sent - newest.failed} of {newest.sent} calls")
    check_row = {"target_id": tid, "baseline_id": result.baseline_id,
                 "status": "drift" if result.drift else "ok", "drift": result.drift,
                 "window_run_ids": result.window_runs, "baseline_run_ids": result.baseline_runs,
                 "baseline_responses": 0, "window_responses": 0, "confirmation_run_id": None,
                 "model_string_changed": False, "tests_run": 0, "notes": result.notes}
    rows = [finding_row(f) for f in result.findings]
    result.check_id = save(check_row, rows, result)
    log.log(logging.WARNING if result.drift else logging.INFO,
            "outage: the target is failing" if result.drift else "outage over",
            extra={"target": target.name, "check": result.check_id,
                   "runs": ",".join(map(str, result.window_runs))})
    return result if finding is not None else None
