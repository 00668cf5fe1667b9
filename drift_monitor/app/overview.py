"""Every target's state at a glance: what ``targets`` prints and the console's overview shows.

States, first match wins:

- ``drifting``: an open incident that no silence covers;
- ``failing``: the last round failed (no call succeeded);
- ``stale``: no run for two schedule intervals (or never run);
- ``confirming``: the last check saw drift that is not confirmed yet;
- ``silenced``: a silence is in force for the target (its open incidents, if any, are all
  covered);
- ``ok``.

Numbers: error rate and model strings over the runs of the last 24 hours; cost since the start
of the UTC day. Six queries for all targets together (storage/console_queries.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from drift_monitor.alerting.operations import covering_silence
from drift_monitor.config import Config, TargetConfig
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import (
    IncidentRow,
    LatestCheck,
    LatestRun,
    SilenceRow,
    as_dict,
)

STATES = ("drifting", "failing", "stale", "confirming", "silenced", "ok")
STALE_INTERVALS = 2


@dataclass
class TargetStatus:
    name: str
    provider: str
    model: str
    schedule: str
    state: str
    why: str
    last_run: LatestRun | None = None
    last_check: LatestCheck | None = None
    open_incidents: list[dict[str, Any]] = field(default_factory=list)
    silences: list[SilenceRow] = field(default_factory=list)
    runs_24h: int = 0
    error_rate_24h: float | None = None
    cost_today_usd: float | None = None
    model_strings_24h: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        def iso(v: Any) -> Any:
            if isinstance(v, datetime):
                return v.isoformat(timespec="seconds")
            if isinstance(v, dict):
                return {k: iso(x) for k, x in v.items()}
            if isinstance(v, list):
                return [iso(x) for x in v]
            return v

        out: dict[str, Any] = iso(asdict(self))
        out["open_incidents"] = [
            {k: i[k] for k in ("id", "dimension", "severity", "summary", "opened_at",
                               "acked_by", "silenced_by") if k in i}
            for i in out["open_incidents"]]
        out["silences"] = [{k: s[k] for k in ("id", "dimension", "ends_at", "reason",
                                               "created_by")} for s in out["silences"]]
        return out


def interval(target: TargetConfig, now: datetime) -> timedelta:
    """The target's schedule interval (for a cron schedule: the gap between its next two
    firings)."""
    schedule = target.parsed_schedule
    if schedule.interval_seconds:
        return timedelta(seconds=schedule.interval_seconds)
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(schedule.cron or "", timezone="UTC")
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first) if first and second else timedelta(days=1)


def _state(t: TargetConfig, now: datetime, last_run: LatestRun | None,
           last_check: LatestCheck | None, incidents: list[dict[str, Any]],
           silences: list[SilenceRow]) -> tuple[str, str]:
    loud = [i for i in incidents if i.get("silenced_by") is None]
    if loud:
        return "drifting", ", ".join(f"#{i['id']} {i['dimension']}" for i in loud)
    if last_run is not None and last_run.status == "failed":
        return "failing", f"run {last_run.id} failed"
    if last_run is None:
        return "stale", "no run yet"
    gap = interval(t, now) * STALE_INTERVALS
    if now - last_run.started_at > gap:
        return "stale", f"no run since {last_run.started_at:%Y-%m-%d %H:%M} UTC"
    if last_check is not None and last_check.status == "unconfirmed":
        return "confirming", f"check {last_check.id} saw unconfirmed drift"
    if silences:
        return "silenced", ", ".join(f"silence {s.id}" for s in silences)
    return "ok", ""


def overview(config: Config, store: Store, now: datetime,
             names: list[str] | None = None) -> list[TargetStatus]:
    """The state of every configured target (or of ``names``), in config order."""
    targets = config.targets(names) if names else config.targets()
    ids = store.target_ids([t.name for t in targets])
    tids = list(ids.values())
    runs = store.latest_runs(tids)
    checks = store.latest_checks(tids)
    totals = store.run_totals_since(tids, now - timedelta(hours=24))
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    usage = store.usage_since(tids, min(day, now - timedelta(hours=24)), day)
    incidents: dict[int, list[IncidentRow]] = {}
    for i in store.open_incident_rows(tids):
        incidents.setdefault(i.target_id, []).append(i)
    silences: dict[str, list[SilenceRow]] = {}
    for s in store.silences(now=now, active_only=True):
        silences.setdefault(s.target, []).append(s)
    out = []
    for t in targets:
        tid = ids.get(t.name)
        mine = silences.get(t.name, [])
        # the console's view of an incident: its row and the silence that covers it
        open_ = [as_dict(i) for i in incidents.get(tid, [])] if tid is not None else []
        for view in open_:
            cover = covering_silence(mine, view["dimension"])
            view["silenced_by"] = cover.id if cover else None
        last_run = runs.get(tid) if tid is not None else None
        last_check = checks.get(tid) if tid is not None else None
        state, why = _state(t, now, last_run, last_check, open_, mine)
        tot = totals.get(tid, {"runs": 0, "ok": 0, "failed": 0}) if tid is not None else {
            "runs": 0, "ok": 0, "failed": 0}
        calls = tot["ok"] + tot["failed"]
        out.append(TargetStatus(
            name=t.name, provider=t.provider, model=t.model, schedule=t.schedule, state=state,
            why=why, last_run=last_run, last_check=last_check, open_incidents=open_,
            silences=mine, runs_24h=tot["runs"],
            error_rate_24h=tot["failed"] / calls if calls else None,
            cost_today_usd=usage.get(tid, {}).get("cost_usd") if tid is not None else None,
            model_strings_24h=(usage.get(tid, {}).get("model_strings", {})
                               if tid is not None else {})))
    return out
