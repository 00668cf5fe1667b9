"""Delivering the outbox: at-least-once, deduplicated by key, with retries and backoff.

Notifications are queued in the transaction that decided them (a check's, or ``baseline
accept``'s) and delivered here, by ``notify`` now and by the daemon later. Each row is claimed
with a conditional UPDATE and a lease, sent, then marked:

- delivered: done; never sent again.
- temporary failure (429, 5xx, timeout, refused connection): stays pending with its attempt count,
  the error, and a next attempt after exponential backoff (30 s doubling to at most 1 h, never
  sooner than the server's Retry-After). The first temporary failure of a channel ends that
  channel's turn in this run, so a Slack outage costs one timeout, not one per message.
- permanent failure (bad webhook, invalid token, unknown channel): marked failed, logged at error
  level and listed by ``notify``; never retried.

A crash between sending and marking sends the message again later: at-least-once by design.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from drift_monitor.alerting.channels import Channel, make_channel
from drift_monitor.clock import Clock, utc_now
from drift_monitor.config import Config
from drift_monitor.errors import ChannelError, DriftMonitorError
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import NotificationRow

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 30.0
BACKOFF_CAP_S = 3600.0
LEASE_S = 300.0  # a claim older than this belongs to a process that died


def backoff_seconds(attempts: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts (1-based), at least ``retry_after``."""
    wait = min(BACKOFF_CAP_S, BACKOFF_INITIAL_S * 2 ** max(0, attempts - 1))
    return max(wait, retry_after or 0.0)


@dataclass(frozen=True)
class Attempt:
    """What happened to one notification in this run."""

    id: int
    dedup_key: str
    channel: str
    kind: str
    reason: str
    target: str | None
    outcome: str  # delivered | retry | failed | deferred
    error: str | None = None
    next_attempt_at: datetime | None = None

    def describe(self) -> str:
        what = f"{self.kind} ({self.reason}) for {self.target or 'all targets'} via {self.channel}"
        if self.outcome == "delivered":
            return f"delivered: {what}"
        if self.outcome == "failed":
            return f"failed permanently: {what}: {self.error}"
        if self.outcome == "deferred":
            return f"not attempted ({self.channel} is failing in this run): {what}"
        when = f"{self.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC" if self.next_attempt_at else "?"
        return f"will retry after {when}: {what}: {self.error}"


@dataclass
class DeliveryReport:
    attempts: list[Attempt] = field(default_factory=list)
    pending: int = 0  # still pending after the run

    @property
    def delivered(self) -> int:
        return sum(a.outcome == "delivered" for a in self.attempts)

    @property
    def failed(self) -> int:
        return sum(a.outcome == "failed" for a in self.attempts)


ChannelFactory = Callable[[str, Config], Channel]


def deliver(config: Config, store: Store, *, now: Clock = utc_now, due_only: bool = False,
            keys: Sequence[str] | None = None,
            channels: Mapping[str, Channel] | None = None,
            factory: ChannelFactory = make_channel) -> DeliveryReport:
    """Try to deliver pending notifications (all of them, or those with ``keys``).

    ``due_only`` skips those still in backoff (the daemon's way); ``notify`` tries all now.
    ``channels`` overrides the channels built from the config (tests inject a console on a
    buffer). Raises ConfigError when a channel's secret env var is unset; the claimed row is
    released untouched first.
    """
    report = DeliveryReport()
    built: dict[str, Channel] = dict(channels or {})
    failing: set[str] = set()
    for nid in store.pending_notification_ids(now(), due_only=due_only, keys=keys):
        t = now()
        row = store.claim_notification(nid, t, t + timedelta(seconds=LEASE_S))
        if row is None:  # delivered or claimed by another process meanwhile
            continue
        name = row.channel

        def attempt(outcome: str, error: str | None = None,
                    next_at: datetime | None = None, row: NotificationRow = row) -> Attempt:
            return Attempt(row.id, row.dedup_key, row.channel, row.kind,
                           row.reason, row.payload.get("target"), outcome, error, next_at)

        if name in failing:
            store.release_claim(nid)
            report.attempts.append(attempt("deferred"))
            continue
        try:
            if name not in built:
                built[name] = factory(name, config)
            built[name].send(row.payload)
        except ChannelError as exc:
            if exc.permanent:
                store.finish_attempt(nid, now=t, status="failed", error=str(exc))
                log.error("notification failed permanently", extra={
                    "notification": nid, "key": row.dedup_key, "error": str(exc)})
                report.attempts.append(attempt("failed", str(exc)))
                continue
            next_at = t + timedelta(seconds=backoff_seconds(row.attempts + 1,
                                                            exc.retry_after))
            store.finish_attempt(nid, now=t, status="pending", error=str(exc),
                                 next_attempt_at=next_at)
            log.warning("notification not delivered", extra={
                "notification": nid, "key": row.dedup_key,
                "retry_at": next_at.isoformat(timespec="seconds"), "error": str(exc)})
            failing.add(name)
            report.attempts.append(attempt("retry", str(exc), next_at))
            continue
        except DriftMonitorError:  # a missing secret: the user must fix the config first
            store.release_claim(nid)
            raise
        except Exception as exc:  # a bug in rendering or a channel: keep the message, retry
            error = f"unexpected {type(exc).__name__} in channel {name}"
            next_at = t + timedelta(seconds=backoff_seconds(row.attempts + 1))
            store.finish_attempt(nid, now=t, status="pending", error=error,
                                 next_attempt_at=next_at)
            log.exception("notification not delivered", extra={"notification": nid,
                                                               "error": error})
            failing.add(name)
            report.attempts.append(attempt("retry", error, next_at))
            continue
        store.finish_attempt(nid, now=t, status="delivered")
        log.info("notification delivered", extra={"notification": nid,
                                                  "key": row.dedup_key, "channel": name})
        report.attempts.append(attempt("delivered"))
    report.pending = len(store.pending_notification_ids(now(), due_only=False, keys=keys))
    return report
