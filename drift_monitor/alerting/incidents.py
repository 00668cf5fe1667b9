"""Incidents per (target, dimension): open, update, repeat, resolve, accept; every decision named.

Rules (reliability contract 5):

- A finding *pages* when it is confirmed and its severity is at least ``notify.min_severity``
  (``info`` never pages). A dimension with a paging finding opens an incident, or updates the
  open one.
- An open incident notifies once when it opens (``first_notification``), again when it changes
  (``changed``: a suite not in the last message, or a higher severity), and
  otherwise only after ``notify.repeat_interval`` (``repeat_interval_elapsed``).
- It resolves after one clean check: a check of the target with no finding of that dimension at
  warning or above, confirmed or not. An unconfirmed finding is no evidence the behaviour came
  back, so it holds the incident open without paging (``held_by_unconfirmed_finding``). A check
  that failed (no baseline, no window) never touches incidents.
- ``baseline accept`` closes the target's open incidents as accepted.
- Resolved and accepted incidents notify only if their opening was announced.
- Operations (alerting/operations.py): an acknowledged incident does not repeat
  (``acknowledged``) until it changes; an alert covered by a silence is recorded but not queued
  (``silenced``, with the silence's id). See :meth:`IncidentBook.hold_back`.

Decisions are stored as incident events and logged; those that notify queue one outbox row per
channel the routes pick (alerting/routes.py), in the check's own transaction. ``now`` is
injectable so tests control time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from drift_monitor.alerting.control import control_status
from drift_monitor.alerting.links import add_links
from drift_monitor.alerting.message import alert_payload, closed_payload
from drift_monitor.alerting.operations import covering_silence
from drift_monitor.alerting.routes import Router, make_router
from drift_monitor.clock import Clock, utc_now
from drift_monitor.config import Config, parse_duration
from drift_monitor.detection.findings import Finding, severity_rank
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import IncidentRow
from drift_monitor.storage.transaction import Transaction

if TYPE_CHECKING:
    from drift_monitor.detection.result import CheckResult

log = logging.getLogger(__name__)




class Reason(StrEnum):
    """Why a decision was taken. The first five send a message; the others do not."""

    FIRST_NOTIFICATION = "first_notification"
    CHANGED = "changed"
    REPEAT_INTERVAL_ELAPSED = "repeat_interval_elapsed"
    RESOLVED = "resolved"
    ACCEPTED = "accepted"
    ALREADY_NOTIFIED = "already_notified"  # unchanged, within repeat_interval
    HELD = "held_by_unconfirmed_finding"
    NOTIFY_DISABLED = "notify_disabled"  # check --no-notify
    NEVER_ANNOUNCED = "never_announced"  # closing an incident nobody was told about
    ACKNOWLEDGED = "acknowledged"  # acked and unchanged: no repeat (alerting/operations.py)
    SILENCED = "silenced"  # would notify, but a silence holds it back


NOTIFYING = {Reason.FIRST_NOTIFICATION, Reason.CHANGED, Reason.REPEAT_INTERVAL_ELAPSED,
             Reason.RESOLVED, Reason.ACCEPTED}


@dataclass(frozen=True)
class Policy:
    min_severity: str
    repeat_interval: timedelta

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        notify = config.settings.notify
        # info never pages, whatever the setting says
        floor = max(notify.min_severity, "warning", key=severity_rank)
        return cls(floor, timedelta(seconds=parse_duration(notify.repeat_interval)))

    def pages(self, f: Finding) -> bool:
        return f.confirmed and severity_rank(f.severity) >= severity_rank(self.min_severity)


@dataclass(frozen=True)
class Decision:
    """One named decision about one (target, dimension)."""

    target: str
    dimension: str
    incident_id: int
    action: str  # open | update | hold | resolve | accept
    reason: Reason
    queued: int = 0  # notifications queued (one per channel; 0 when deduplicated or silent)



def finding_key(f: Finding) -> str:
    # what makes an open incident news: a suite not yet announced. Probe-level detail churns
    # between windows, and with evidence carried over windows more metrics of an announced
    # suite join an episode as they build up: neither is a new message (a higher severity is)
    return f.suite or f.probe or ""


def decide_open(incident: IncidentRow, paging: list[Finding], now: datetime,
                policy: Policy, notify: bool) -> Reason:
    """The reason for an open incident whose dimension still pages."""
    keys = {finding_key(f) for f in paging}
    severity = max((f.severity for f in paging), key=severity_rank)
    if incident.last_notified_at is None:
        reason = Reason.FIRST_NOTIFICATION
    elif (keys - set(incident.notified_keys or [])
          or severity_rank(severity) > severity_rank(incident.notified_severity or "info")):
        reason = Reason.CHANGED
    elif now - incident.last_notified_at >= policy.repeat_interval:
        if incident.acked_at is not None:
            return Reason.ACKNOWLEDGED
        reason = Reason.REPEAT_INTERVAL_ELAPSED
    else:
        return Reason.ALREADY_NOTIFIED
    return reason if notify else Reason.NOTIFY_DISABLED


def _closing_reason(incident: IncidentRow, announced: Reason, notify: bool) -> Reason:
    if incident.last_notified_at is None:
        return Reason.NEVER_ANNOUNCED
    return announced if notify else Reason.NOTIFY_DISABLED


@dataclass(frozen=True)
class Announcement:
    """One incident a check (or an accept) is about to announce: the decision's reason, what was
    done to the incident (``open``, ``update``, ``resolve``, ``accept``) and its findings."""

    incident: IncidentRow
    reason: Reason
    action: str
    findings: list[Finding] = field(default_factory=list)


class IncidentBook:
    """Applies decisions inside one transaction (``tx``, from ``store.transaction()``):
    incidents, events and outbox rows together.

    One check announces at most one alert and one resolution per target and channel, however
    many dimensions moved; each incident still has its own decision, event and sequence.
    ``channels`` is the Router that picks each incident's channel (alerting.routes), or a plain
    list of channels that get every message.
    """

    def __init__(self, tx: Transaction, *, channels: Sequence[str] | Router,
                 now: datetime, public_url: str | None = None,
                 interactive: bool = False) -> None:
        self.tx, self.now = tx, now
        self.router = channels if isinstance(channels, Router) else Router.fixed(channels)
        self.public_url, self.interactive = public_url, interactive
        self.held: dict[int, int] = {}  # incident id -> the silence that held its alert back

    def _channels(self, kind: str, target: str, incident: IncidentRow) -> list[str]:
        if kind == "alert":
            return self.router.alert_channels(target, incident.dimension,
                                              incident.severity)
        return self.router.closing_channels(incident, target)

    def _announce(self, kind: str, target: str, target_id: int, items: list[Announcement],
                  check_id: int | None, payload: Callable[[list[Announcement]],
                                                          dict[str, Any]]) -> list[Decision]:
        """Queue one message per channel for the notifying items that channel should hear
        about (routes pick it for alerts; closings follow the alerts); record every decision."""
        notifying = [a for a in items if a.reason in NOTIFYING]
        key: str | None = None
        queued: dict[int, int] = {}
        if notifying:
            base = "+".join(f"{a.incident.id}:{a.reason.value}:{a.incident.notifications + 1}"
                            for a in notifying)
            key = f"{kind}/{base}"
            by_channel: dict[str, list[Announcement]] = {}
            for a in notifying:
                for channel in self._channels(kind, target, a.incident):
                    by_channel.setdefault(channel, []).append(a)
            for channel, group in by_channel.items():
                body = payload(group)
                if self.public_url:
                    add_links(body, self.public_url, interactive=self.interactive)
                added = self.tx.enqueue({
                    "dedup_key": f"{key}/{channel}", "channel": channel, "kind": kind,
                    "reason": body["reason"], "target_id": target_id,
                    "incident_id": group[0].incident.id if len(group) == 1 else None,
                    "payload": body, "status": "pending", "attempts": 0,
                    "created_at": self.now, "next_attempt_at": self.now})
                for a in group:
                    queued[a.incident.id] = queued.get(a.incident.id, 0) + int(added)
            for inc in [a.incident for a in notifying]:
                values = {"notifications": inc.notifications + 1,
                          "last_notified_at": self.now, "notified_keys": inc.finding_keys,
                          "notified_severity": inc.severity}
                if kind == "alert":
                    told = [c for c, group in by_channel.items()
                            if any(g.incident.id == inc.id for g in group)]
                    values["notified_channels"] = list(dict.fromkeys(
                        [*(inc.notified_channels or []), *told]))
                self.tx.update_incident(inc.id, values)
        return [self.record(target, a.incident, a.action, a.reason, check_id,
                            queued.get(a.incident.id, 0) if a.reason in NOTIFYING else 0,
                            key if a.reason in NOTIFYING else None)
                for a in items]

    def record(self, target: str, incident: IncidentRow, action: str, reason: Reason,
               check_id: int | None, queued: int, dedup_key: str | None) -> Decision:
        self.tx.add_incident_event({
            "incident_id": incident.id, "check_id": check_id, "at": self.now,
            "action": action, "reason": reason.value, "notified": queued > 0,
            "dedup_key": dedup_key, "silence_id": self.held.get(incident.id)})
        log.info("incident decision", extra={
            "incident": incident.id, "target": target, "dimension": incident.dimension,
            "action": action, "reason": reason.value, "queued": dedup_key if queued else None})
        return Decision(target, incident.dimension, incident.id, action, reason, queued)

    def apply_check(self, result: CheckResult, target_id: int, check_id: int, *,
                    policy: Policy, notify: bool, control: dict[str, Any] | None = None,
                    model: str | None = None) -> list[Decision]:
        """Open, update, hold or resolve the target's incidents after a successful check.
        ``control``/``model`` go into the alert (see alerting.control)."""
        paging: dict[str, list[Finding]] = {}
        holding: set[str] = set()
        for f in result.findings:
            if f.severity != "info":
                holding.add(f.dimension)
            if policy.pages(f):
                paging.setdefault(f.dimension, []).append(f)
        open_by_dim = {i.dimension: i for i in self.tx.open_incidents(
                                                                            target_id)
                       if result.scope is None or i.dimension in result.scope}
        alerts: list[Announcement] = []
        closes: list[Announcement] = []
        decisions = []
        for dim in sorted(set(open_by_dim) | set(paging)):
            incident = open_by_dim.get(dim)
            found = paging.get(dim, [])
            if found:
                alerts.append(self._drifting(target_id, check_id, incident, dim, found,
                                             policy, notify))
            elif incident is not None and dim in holding:
                self.tx.update_incident(incident.id, {
                    "updated_at": self.now, "last_check_id": check_id})
                decisions.append(self.record(result.target, incident, "hold", Reason.HELD,
                                             check_id, 0, None))
            elif incident is not None:
                closes.append(self._close(incident, "resolve", Reason.RESOLVED, notify,
                                          check_id=check_id))

        def alert(items: list[Announcement]) -> dict[str, Any]:
            return alert_payload(result, [(a.incident, a.reason.value, a.findings)
                                          for a in items], self.now,
                                 control=control, model=model)

        def resolved(items: list[Announcement]) -> dict[str, Any]:
            return closed_payload("resolved", result.target,
                                  [(a.incident, a.reason.value) for a in items], self.now,
                                  check_id=check_id)

        alerts = self.hold_back(result.target, alerts)
        decisions += self._announce("alert", result.target, target_id, alerts, check_id, alert)
        decisions += self._announce("resolved", result.target, target_id, closes, check_id,
                                    resolved)
        return decisions

    # --- operations: silences and acknowledgements (alerting/operations.py) ---------------

    def hold_back(self, target: str, alerts: list[Announcement]) -> list[Announcement]:
        """Alerts with a notifying reason that a silence in force covers become ``silenced``
        (recorded with the silence's id, nothing queued)."""
        if not any(a.reason in NOTIFYING for a in alerts):
            return alerts
        silences = self.tx.active_silences(target, self.now)
        out = []
        for a in alerts:
            silence = covering_silence(silences, a.incident.dimension)
            if a.reason in NOTIFYING and silence is not None:
                self.held[a.incident.id] = silence.id
                a = replace(a, reason=Reason.SILENCED)
            out.append(a)
        return out

    def _drifting(self, target_id: int, check_id: int, incident: IncidentRow | None,
                  dim: str, found: list[Finding], policy: Policy,
                  notify: bool) -> Announcement:
        severity = max((f.severity for f in found), key=severity_rank)
        top = max(found, key=lambda f: (severity_rank(f.severity), abs(f.effect or 0)))
        state: dict[str, Any] = {
            "severity": severity, "summary": top.summary, "updated_at": self.now,
            "last_check_id": check_id, "finding_keys": sorted({finding_key(f) for f in found})}
        if incident is None:
            values = {"target_id": target_id, "dimension": dim, "status": "open",
                      "opened_at": self.now, "first_check_id": check_id,
                      "notified_keys": [], "notifications": 0, **state}
            incident = IncidentRow(id=self.tx.insert_incident(values), notified_severity=None,
                                   notified_channels=None, **values)
            action = "open"
        else:
            self.tx.update_incident(incident.id, state)
            action = "update"
        reason = decide_open(incident, found, self.now, policy, notify)
        if reason is Reason.CHANGED and incident.acked_at is not None:
            # the acknowledgement was for what it was; a change is news again
            cleared = {"acked_at": None, "acked_by": None, "ack_note": None}
            self.tx.update_incident(incident.id, cleared)
            state = {**state, **cleared}
        return Announcement(replace(incident, **state), reason, action, found)

    def _close(self, incident: IncidentRow, action: str, announced: Reason, notify: bool,
               *, check_id: int | None = None,
               baseline_id: int | None = None) -> Announcement:
        status = "resolved" if action == "resolve" else "accepted"
        self.tx.update_incident(incident.id, {
            "status": status, "closed_at": self.now, "updated_at": self.now,
            "closed_by_check_id": check_id, "accepted_baseline_id": baseline_id})
        return Announcement(incident, _closing_reason(incident, announced, notify), action)

    def accept(self, target: str, target_id: int, baseline_id: int,
               run_ids: list[int]) -> list[Decision]:
        """Close every open incident of the target as accepted by baseline ``baseline_id``."""
        items = [self._close(incident, "accept", Reason.ACCEPTED, True, baseline_id=baseline_id)
                 for incident in self.tx.open_incidents(target_id)]

        def accepted(items: list[Announcement]) -> dict[str, Any]:
            return closed_payload("accepted", target,
                                  [(a.incident, a.reason.value) for a in items], self.now,
                                  baseline_id=baseline_id, baseline_runs=run_ids)

        return self._announce("accepted", target, target_id, items, None, accepted)


def _interactive(config: Config) -> bool:
    """Alerts carry Slack buttons when Slack can reach the console and sign its requests."""
    slack = config.settings.notify.slack
    return bool(config.settings.server.public_url and slack is not None
                and slack.signing_secret_env)


def check_saver(config: Config, store: Store, *, notify: bool = True, now: Clock = utc_now,
                decisions: list[Decision] | None = None,
                ) -> Callable[[dict[str, Any], list[dict[str, Any]], CheckResult], int]:
    """A ``save`` hook for run_check: stores the check, its findings, the incident changes
    and the notifications they queue in one transaction. Decisions are appended to
    ``decisions`` when given. Raises StorageError when the database fails; then nothing is
    stored."""
    policy = Policy.from_config(config)
    channels = make_router(config)

    def save(check_row: dict[str, Any], rows: list[dict[str, Any]],
             result: CheckResult) -> int:
        target = next((t for t in config.settings.targets if t.name == result.target), None)
        at = now()
        # read before the transaction: the control's check is another target's, already stored
        control = (control_status(config, store, target, at)
                   if result.drift and target is not None else None)

        with store.transaction() as tx:
            check_id = tx.save_check(check_row, rows, evidence=result.evidence)
            result.check_id = check_id
            book = IncidentBook(tx, channels=channels, now=at,
                                public_url=config.settings.server.public_url,
                                interactive=_interactive(config))
            made = book.apply_check(result, check_row["target_id"], check_id,
                                    policy=policy, notify=notify, control=control,
                                    model=target.model if target is not None else None)
        if decisions is not None:
            decisions.extend(made)
        return check_id

    return save


def accept_hook(config: Config, store: Store, target: str, target_id: int, *,
                now: Clock = utc_now, decisions: list[Decision] | None = None,
                ) -> Callable[[Transaction, int, list[int]], None]:
    """``hook(tx, baseline_id, run_ids)``, for the transaction that pins the baseline: closes
    the target's open incidents as accepted by it, in that transaction."""
    channels = make_router(config)

    def hook(tx: Transaction, baseline_id: int, run_ids: list[int]) -> None:
        book = IncidentBook(tx, channels=channels, now=now(),
                            public_url=config.settings.server.public_url)
        made = book.accept(target, target_id, baseline_id, run_ids)
        if decisions is not None:
            decisions.extend(made)

    return hook
