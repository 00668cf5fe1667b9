"""Queries for incidents and the notification outbox (a part of Store, kept in its own module).

Each method opens its own short transaction. The writes that must commit with a check's
findings (incident changes and the notifications they queue) are Transaction's
(storage/transaction.py), reached through ``store.transaction()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update

from drift_monitor.storage.base import StoreBase
from drift_monitor.storage.rows import IncidentEventRow, IncidentRow, NotificationRow, row_of
from drift_monitor.storage.tables import Incident, IncidentEvent, Notification, Target
from drift_monitor.storage.transaction import Transaction


class AlertQueries(StoreBase):
    """Mixed into Store."""

    # --- the outbox (own transactions) ----------------------------------------------------

    def enqueue_notification(self, row: dict[str, Any]) -> bool:
        with self._write() as conn:
            return Transaction(conn).enqueue(row)

    def notification_by_key(self, dedup_key: str) -> NotificationRow | None:
        with self._read() as conn:
            row = conn.execute(select(Notification)
                               .where(Notification.dedup_key == dedup_key)).first()
            return row_of(NotificationRow, row) if row else None

    def pending_notification_ids(self, now: datetime, *, due_only: bool,
                                 keys: Sequence[str] | None = None) -> list[int]:
        """Pending notifications in the order they were queued; with ``due_only`` only those
        whose backoff has elapsed."""
        q = select(Notification.id).where(Notification.status == "pending")
        if due_only:
            q = q.where(Notification.next_attempt_at <= now)
        if keys is not None:
            q = q.where(Notification.dedup_key.in_(list(keys)))
        with self._read() as conn:
            return list(conn.execute(q.order_by(Notification.id)).scalars())

    def claim_notification(self, notification_id: int, now: datetime,
                           lease_until: datetime) -> NotificationRow | None:
        """Claim a pending notification for one delivery attempt with a conditional UPDATE.

        Returns the row, or None when it was delivered, failed or claimed by another process
        meanwhile. A claim that is never released (a crash) expires at ``lease_until``.
        """
        with self._write() as conn:
            claimed = conn.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.status == "pending",
                       or_(Notification.claimed_until.is_(None),
                           Notification.claimed_until < now))
                .values(claimed_until=lease_until)).rowcount
            if claimed != 1:
                return None
            row = conn.execute(select(Notification)
                               .where(Notification.id == notification_id)).one()
            return row_of(NotificationRow, row)

    def finish_attempt(self, notification_id: int, *, now: datetime, status: str,
                       error: str | None = None, next_attempt_at: datetime | None = None,
                       ) -> None:
        """Record one attempt's outcome and release the claim."""
        values: dict[str, Any] = {"status": status, "attempts": Notification.attempts + 1,
                                  "last_attempt_at": now, "claimed_until": None,
                                  "last_error": error}
        if status == "delivered":
            values["delivered_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self._write() as conn:
            conn.execute(update(Notification).where(Notification.id == notification_id)
                         .values(**values))

    def release_claim(self, notification_id: int) -> None:
        """Give a claimed notification back untouched (it was not attempted)."""
        with self._write() as conn:
            conn.execute(update(Notification).where(Notification.id == notification_id)
                         .values(claimed_until=None))

    def notifications(self, *, status: str | None = None,
                      limit: int = 100) -> list[NotificationRow]:
        """Notifications newest first, with their target's name."""
        q = (select(Notification, Target.name.label("target"))
             .outerjoin(Target, Target.id == Notification.target_id)
             .order_by(Notification.id.desc()).limit(limit))
        if status is not None:
            q = q.where(Notification.status == status)
        with self._read() as conn:
            return [row_of(NotificationRow, r) for r in conn.execute(q)]

    def notification_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(Notification.status, func.count())
                                .group_by(Notification.status))
            return {str(s): int(n) for s, n in rows}

    # --- reading incidents ----------------------------------------------------------------

    def incidents(self, *, target_id: int | None = None, since: datetime | None = None,
                  status: str | None = None) -> list[IncidentRow]:
        """Incidents oldest first; with ``since``, those open at or after that time."""
        q = select(Incident, Target.name.label("target")).join(Target,
                                                               Target.id == Incident.target_id)
        if target_id is not None:
            q = q.where(Incident.target_id == target_id)
        if status is not None:
            q = q.where(Incident.status == status)
        if since is not None:
            q = q.where(or_(Incident.closed_at.is_(None), Incident.closed_at >= since))
        with self._read() as conn:
            return [row_of(IncidentRow, r) for r in conn.execute(q.order_by(Incident.id))]

    def incident_events(self, incident_id: int) -> list[IncidentEventRow]:
        with self._read() as conn:
            rows = conn.execute(select(IncidentEvent)
                                .where(IncidentEvent.incident_id == incident_id)
                                .order_by(IncidentEvent.id))
            return [row_of(IncidentEventRow, r) for r in rows]
