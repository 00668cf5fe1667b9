"""The control arm: tell a provider's change from a problem on our side.

A target may name ``control: OTHER`` (typically the pinned snapshot behind a floating alias,
both probed by the same harness). When the target drifts, the control's latest check decides
what the alert says for each drifted dimension:

- the control drifted in the same dimension, in a check of the same period: both moved at once,
  so what they share (the harness, the network, the probes) is the likely cause;
- the control was checked in that period and did not drift there: the provider changed the
  target's model;
- the control has no check in that period: nothing can be said, and the alert says so.

"The same period" is :func:`period` of the control's schedule: two of its intervals (at least an
hour), or two days for a cron schedule, so a control checked on its usual rhythm always counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from drift_monitor.config import Config, TargetConfig
from drift_monitor.detection.findings import PAGE_SEVERITIES

if TYPE_CHECKING:
    from drift_monitor.storage.queries import Store

CRON_PERIOD = timedelta(days=2)
MIN_PERIOD = timedelta(hours=1)


def period(control: TargetConfig) -> timedelta:
    """How old the control's latest check may be and still speak for "now"."""
    seconds = control.parsed_schedule.interval_seconds
    if seconds is None:
        return CRON_PERIOD
    return max(MIN_PERIOD, timedelta(seconds=2 * seconds))


def control_status(config: Config, store: Store, target: TargetConfig,
                   now: datetime | None = None) -> dict[str, Any] | None:
    """What the target's control says, for the alert payload; None without a control.

    Returns ``{"target", "model", "checked_at" (ISO or None), "recent" (bool), "drifted"
    (dimensions with a confirmed warning/critical finding in its latest check)}``. Raises
    ConfigError if the control is not a target (load_config already refuses that).
    """
    if target.control is None:
        return None
    control = config.target(target.control)
    out: dict[str, Any] = {"target": control.name, "model": control.model, "checked_at": None,
                           "recent": False, "drifted": []}
    cid = store.target_id(control.name)
    last = store.last_check(cid) if cid is not None else None
    if last is None:
        return out
    check, findings = last
    at = check["created_at"]
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    out["checked_at"] = at.isoformat(timespec="seconds")
    out["recent"] = (now or datetime.now(UTC)) - at <= period(control)
    out["drifted"] = sorted({f["dimension"] for f in findings
                             if f["confirmed"] and f["severity"] in PAGE_SEVERITIES})
    return out


def control_lines(control: dict[str, Any] | None, dimensions: list[str], model: str) -> list[str]:
    """The sentences an alert adds about its control, one per verdict (empty without one)."""
    if not control:
        return []
    name = control["target"]
    if not control["recent"]:
        when = f"since {control['checked_at'][:16].replace('T', ' ')} UTC" \
            if control["checked_at"] else "ever"
        return [f"The control target {name} has not been checked {when}: cannot tell a "
                f"provider change from a harness or network problem."]
    both = [d for d in dimensions if d in control["drifted"]]
    only = [d for d in dimensions if d not in control["drifted"]]
    lines = []
    if both:
        lines.append(f"The control target {name} drifted too ({', '.join(both)}): the harness "
                     f"or network is the likely cause.")
    if only:
        lines.append(f"The control target {name} ({control['model']}, pinned) did not drift "
                     f"({', '.join(only)}): the provider changed {model}.")
    return lines
