"""What each console page shows, as plain values for the templates (no HTML here: the
templates escape everything they print)."""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timedelta
from typing import Any

from drift_monitor.alerting.operations import covering_silence
from drift_monitor.app.overview import STATES, TargetStatus, overview
from drift_monitor.config import Config
from drift_monitor.digest.build import effect_series
from drift_monitor.digest.charts import charts_for, svg
from drift_monitor.errors import OperationError
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import IncidentRow, as_dict

CHART_POINTS = 240  # per chart: a point every 3 hours over 30 days, every 1.5 days over a year
MAX_DIFF_CHARS = 20_000  # beyond this a text is shown whole but not diffed (difflib is O(n²))
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
_CLIPPED = re.compile(r" \[\.\.\. \d+ more chars\]$")
SORTS = {"name": lambda r: r.name,
         "state": lambda r: (STATES.index(r.state), r.name),
         "last_run": lambda r: (r.last_run.started_at.timestamp() if r.last_run else 0.0),
         "errors": lambda r: -(r.error_rate_24h or 0.0),
         "cost": lambda r: -(r.cost_today_usd or 0.0)}


def overview_page(config: Config, store: Store, now: datetime, *, state: str | None,
                  sort: str) -> dict[str, Any]:
    rows = overview(config, store, now)
    counts = {s: sum(r.state == s for r in rows) for s in STATES}
    if state in STATES:
        rows = [r for r in rows if r.state == state]
    key = SORTS.get(sort, SORTS["state"])
    rows.sort(key=key)  # type: ignore[arg-type]
    if sort == "last_run":
        rows.reverse()
    return {"rows": rows, "counts": counts, "states": STATES, "state": state,
            "sort": sort if sort in SORTS else "state", "sorts": list(SORTS)}


def target_page(config: Config, store: Store, name: str, now: datetime, *,
                days: int) -> dict[str, Any]:
    """Everything of one target; ConfigError for an unknown name."""
    from drift_monitor.alerting.control import control_status

    t = config.target(name)
    (status,) = overview(config, store, now, [name])
    tid = store.target_id(name)
    start = now - timedelta(days=days)
    charts: list[str] = []
    ctx: dict[str, Any] = {"t": t, "status": status, "days": days, "charts": charts,
                           "runs": [], "baselines": [], "probes": [], "incidents": [],
                           "control": None, "actions": store.operator_actions(target=name,
                                                                              limit=20),
                           "silences": store.silences(now=now, active_only=False,
                                                      target=name, limit=20),
                           "others": [o.name for o in config.targets() if o.name != name]}
    if tid is None:
        return ctx
    checks = store.check_series(tid, start, now)
    _, series = effect_series(downsample(checks, start, now))
    payload = {"start": start.isoformat(), "end": now.isoformat(),
               "targets": [{"name": name, "series": series}]}
    charts += [svg(c) for c in charts_for(payload)]
    ctx["checks"] = len(checks)
    ctx["runs"] = store.recent_runs(tid, limit=50)
    accepted = store.accepted_incidents(tid)
    history = store.baseline_history(tid)[:20]
    actors = store.baseline_actors([b.id for b in history])
    # the page's view of a baseline: its summary, the incidents it accepted, who pinned it
    ctx["baselines"] = [{**as_dict(b), "accepted_incidents": accepted.get(b.id, []),
                         "by": actors.get(b.id, "drift-monitor" if b.reason == "automatic"
                                          else "-")}
                        for b in history]
    if status.last_run is not None:
        ctx["probes"] = store.probe_versions_of_run(status.last_run.id)
    ctx["incidents"] = store.target_incidents(tid, limit=30)
    if t.control:
        from drift_monitor.alerting.control import control_lines

        ctx["control"] = control_status(config, store, t, now)
        ctx["control_lines"] = control_lines(
            ctx["control"], [i["dimension"] for i in status.open_incidents], t.model)
    return ctx


def downsample(checks: list[dict[str, Any]], start: datetime, end: datetime,
               buckets: int = CHART_POINTS) -> list[dict[str, Any]]:
    """At most ``buckets`` checks: those of each equal slice of [start, end) merged into one
    (the slice's last time, all its findings), so the chart's point per slice is its largest
    effect and is red when any check in it drifted. A year of hourly checks stays a readable
    chart and a small page."""
    if len(checks) <= buckets:
        return checks
    span = (end - start).total_seconds() or 1.0
    merged: dict[int, dict[str, Any]] = {}
    for c in checks:
        k = min(buckets - 1, max(0, int((c["created_at"] - start).total_seconds() / span
                                        * buckets)))
        cur = merged.setdefault(k, {"created_at": c["created_at"], "findings": []})
        cur["created_at"] = max(cur["created_at"], c["created_at"])
        cur["findings"] += c["findings"]
    return [merged[k] for k in sorted(merged)]


def word_diff(before: str, after: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Both texts as (kind, text) segments, kind ``same``, ``del`` (only before) or ``ins``
    (only after). Texts longer than MAX_DIFF_CHARS come back whole, as ``same``."""
    if len(before) > MAX_DIFF_CHARS or len(after) > MAX_DIFF_CHARS:
        return [("same", before)], [("same", after)]
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    left: list[tuple[str, str]] = []
    right: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(("same", "".join(a[i1:i2])))
            right.append(("same", "".join(b[j1:j2])))
        else:
            if i2 > i1:
                left.append(("del", "".join(a[i1:i2])))
            if j2 > j1:
                right.append(("ins", "".join(b[j1:j2])))
    return left, right


def whole_text(store: Store, run_ids: list[int], probe: str, clipped: str) -> str:
    """A finding stores its examples clipped (detection.findings.clip); the page shows the
    whole answer: the probe's stored answer in the check's runs that the clip begins."""
    m = _CLIPPED.search(clipped)
    if m is None or not probe:
        return clipped
    prefix = clipped[:m.start()]
    for text in store.probe_texts(run_ids, probe):
        if text.startswith(prefix):
            return text
    return clipped


def incident_page(store: Store, incident: IncidentRow, now: datetime) -> dict[str, Any]:
    events = store.incident_events(incident.id)
    findings = (store.check_findings(incident.target_id, incident.last_check_id,
                                     incident.dimension)
                if incident.last_check_id else [])
    runs = (store.check_run_ids(incident.last_check_id) if incident.last_check_id
            else ([], []))
    # the page's view of a finding: its row and the word diffs of its examples
    shown = []
    for f in findings:
        diffs = []
        for ex in f.examples or []:
            probe = ex.get("probe", "")
            before = whole_text(store, runs[0], probe, ex.get("before") or "")
            after = whole_text(store, runs[1], probe, ex.get("after") or "")
            diffs.append({"probe": probe, "pair": word_diff(before, after)})
        shown.append({**as_dict(f), "diffs": diffs})
    notifications = store.incident_notifications(
        incident.id, [e.dedup_key for e in events if e.dedup_key])
    silences = store.silences(now=now, active_only=True, target=incident.target)
    return {"i": incident, "events": events, "findings": shown,
            "notifications": notifications,
            "actions": store.operator_actions(incident_id=incident.id),
            "silence": covering_silence(silences, incident.dimension)}


def compare_report(config: Config, store: Store, pinned: str, candidate: str,
                   now: datetime) -> str:
    """``drift-monitor compare`` as HTML, from stored runs only: when either target has no
    run of the last 24 h covering the probes both run, OperationError says which command
    makes one (the console never probes)."""
    from drift_monitor.app.compare import (
        REUSE_HOURS,
        common_probes,
        compare_targets,
        covering_run,
        probe_key,
    )
    from drift_monitor.compare.html import render_html

    pt, ct = config.target(pinned), config.target(candidate)
    if pt.name == ct.name:
        raise OperationError("compare needs two different targets")
    library = config.load_probes()
    probes = common_probes(library, pt, ct)
    keys = {probe_key(p) for p in probes}
    since = now - timedelta(hours=REUSE_HOURS)
    for t in (pt, ct):
        tid = store.target_id(t.name)
        if tid is None or covering_run(store, tid, keys, since) is None:
            raise OperationError(
                f"{t.name} has no run of the last {REUSE_HOURS:.0f} h that answered the "
                f"{len(keys)} probes both targets run; the console never probes: run "
                f"'drift-monitor compare --target {pt.name} --candidate {ct.name}'")
    return render_html(compare_targets(config, store, library, pt.name, ct.name, now=now))


__all__ = ["TargetStatus", "compare_report", "incident_page", "overview_page", "target_page",
           "word_diff"]
