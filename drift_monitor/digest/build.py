"""Building the weekly digest: per target, what ran, what it cost, what drifted, and how stable
it was.

``build_digest`` reads the last ``days`` from the store and returns a JSON payload (what the
outbox stores and every renderer reads): runs done / missed / failed, responses, error rate,
latency p50/p95, tokens and cost, findings and incidents of the period, a stability score per
dimension, the model strings seen, and per dimension a time series of the drift effect of each
check (for the charts).

Definitions, so the numbers can be checked by hand:

- *missed*: slots the target's schedule had in the period (from its first run on) with no run
  started; manual rounds count as runs. Confirmation rounds are not runs of the schedule.
- *error rate*: failed calls / all calls. Latency percentiles are over successful calls.
- *stability* of a dimension: the share of the period's checks with no confirmed finding of that
  dimension at warning or above (100 = never drifted); none when there was no check.
- *drift effect* of a dimension in a check: the largest absolute effect among its findings at
  warning or above (0 when it had none).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from drift_monitor.clock import Clock, utc_now
from drift_monitor.config import Config, TargetConfig
from drift_monitor.detection.findings import DIMENSIONS
from drift_monitor.slots import SlotClock
from drift_monitor.storage.queries import Store

MAX_SCHEDULE_SLOTS = 100_000  # a cron schedule firing every minute stays countable over a year


def expected_slots(target: TargetConfig, start: datetime, end: datetime) -> int:
    """How many times the target's schedule fired in [start, end): the daemon's own slots
    (``every N`` anchored at the epoch, cron in UTC)."""
    if end <= start:
        return 0
    return SlotClock(target.parsed_schedule).count(start, end, limit=MAX_SCHEDULE_SLOTS)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _target_digest(config: Config, store: Store, target: TargetConfig, start: datetime,
                   end: datetime) -> dict[str, Any]:
    tid = store.target_id(target.name)
    out: dict[str, Any] = {"name": target.name, "provider": target.provider,
                           "model": target.model, "schedule": target.schedule}
    runs = store.runs_between(tid, start, end) if tid is not None else []
    scheduled = [r for r in runs if r["trigger"] != "confirmation"]
    first = store.first_run_at(tid) if tid is not None else None
    slots = expected_slots(target, max(start, first), end) if first else 0
    stats = store.response_stats([r["id"] for r in runs])
    ok = [s for s in stats if s["ok"]]
    latencies = [s["latency_ms"] for s in ok if s["latency_ms"] is not None]
    costs = [s["cost_usd"] for s in stats if s["cost_usd"] is not None]
    out.update({
        "runs_done": sum(r["status"] in ("complete", "partial") for r in scheduled),
        "runs_failed": sum(r["status"] == "failed" for r in scheduled),
        # cut short by a process that died (or still running): neither done nor missed
        "runs_abandoned": sum(r["status"] in ("abandoned", "running") for r in scheduled),
        "runs_missed": max(0, slots - len(scheduled)),
        "confirmation_runs": len(runs) - len(scheduled),
        "responses": len(stats), "ok_responses": len(ok),
        "error_rate": (len(stats) - len(ok)) / len(stats) if stats else None,
        "latency_p50_ms": percentile(latencies, 50), "latency_p95_ms": percentile(latencies, 95),
        "input_tokens": sum(s["input_tokens"] or 0 for s in stats),
        "output_tokens": sum(s["output_tokens"] or 0 for s in stats),
        "cost_usd": sum(costs) if costs else None,
        "model_strings": dict(Counter(s["model_returned"] for s in ok
                                      if s["model_returned"]).most_common(10)),
    })
    checks = store.checks_between(tid, start, end) if tid is not None else []
    findings = [f for c in checks for f in c["findings"]]
    out["checks"] = len(checks)
    out["findings"] = dict(Counter(f["severity"] for f in findings))
    out["confirmed_findings"] = sum(bool(f["confirmed"]) for f in findings
                                    if f["severity"] != "info")
    out["stability"], out["series"] = effect_series(checks)
    incidents = store.incidents(target_id=tid, since=start) if tid is not None else []
    out["incidents"] = [
        {"id": i.id, "dimension": i.dimension, "status": i.status,
         "severity": i.severity, "summary": i.summary,
         "opened_at": i.opened_at.isoformat(timespec="seconds"),
         "closed_at": i.closed_at.isoformat(timespec="seconds") if i.closed_at else None}
        for i in incidents if i.opened_at < end]
    return out


def effect_series(checks: list[dict[str, Any]],
                  ) -> tuple[dict[str, int | None], dict[str, list[list[Any]]]]:
    """Per dimension, the stability score and the drift-effect series ``[time, effect,
    drifted]`` of these checks (each with its findings), as defined in the module docstring.
    The console's target page draws the same series."""
    series: dict[str, list[list[Any]]] = {dim: [] for dim in DIMENSIONS}
    drifted_checks = dict.fromkeys(DIMENSIONS, 0)
    for c in checks:  # one pass: a year of hourly checks is 8,760 of them
        effect = dict.fromkeys(DIMENSIONS, 0.0)
        drifted = dict.fromkeys(DIMENSIONS, False)
        for f in c["findings"]:
            dim = f["dimension"]
            if f["severity"] == "info" or dim not in effect:
                continue
            effect[dim] = max(effect[dim], abs(f["effect"] or 0))
            drifted[dim] = drifted[dim] or bool(f["confirmed"])
        at = c["created_at"].isoformat(timespec="seconds")
        for dim in DIMENSIONS:
            series[dim].append([at, round(effect[dim], 4), drifted[dim]])
            drifted_checks[dim] += drifted[dim]
    stability: dict[str, int | None] = {
        dim: round(100 * (1 - drifted_checks[dim] / len(checks))) if checks else None
        for dim in DIMENSIONS}
    return stability, series


def build_digest(config: Config, store: Store, *, days: int = 7,
                 now: Clock = utc_now) -> dict[str, Any]:
    """The digest of the ``days`` before now, as the outbox payload of kind ``digest``
    (without console links: :func:`drift_monitor.app.digest.build_digest` adds them)."""
    end = now()
    start = end - timedelta(days=days)
    payload = {"kind": "digest", "reason": "digest", "days": days,
               "start": start.isoformat(timespec="seconds"),
               "end": end.isoformat(timespec="seconds"),
               "targets": [_target_digest(config, store, t, start, end)
                           for t in config.targets()],
               "silences": silence_summary(store, start, end),
               # a permanently failed alert is news a digest must carry: it was never seen
               "failed_notifications": [
                   {"id": n["id"], "kind": n["kind"], "reason": n["reason"],
                    "target": n["target"], "channel": n["channel"], "error": n["last_error"],
                    "at": n["last_attempt_at"].isoformat(timespec="seconds")}
                   for n in store.failed_notifications_between(start, end)]}
    return payload


def silence_summary(store: Store, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The silences in force during [start, end) and what each held back: how many decisions
    that would have notified were recorded instead, and for which incidents."""
    held: dict[int, list[dict[str, Any]]] = {}
    for e in store.held_back(start, end):
        held.setdefault(e["silence_id"], []).append(e)
    out = []
    for s in store.silences_between(start, end):
        events = held.get(s.id, [])
        ended = s.expired_at or s.ends_at
        out.append({"id": s.id, "target": s.target, "dimension": s.dimension,
                    "starts_at": s.starts_at.isoformat(timespec="seconds"),
                    "ends_at": ended.isoformat(timespec="seconds"),
                    "active": ended > end and s.starts_at <= end,
                    "expired_early": s.expired_at is not None,
                    "reason": s.reason, "created_by": s.created_by,
                    "held_back": len(events),
                    "incidents": sorted({e["incident_id"] for e in events})})
    return out
