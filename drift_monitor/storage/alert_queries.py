"""Queries for incidents and the notification outbox (a part of Store, kept in its own module).

Methods that take a ``conn`` run inside the caller's transaction: a check's findings, its
incident changes and the notifications they queue are committed together or not at all.
The others open their own short transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from drift_monitor.storage.tables import Incident, IncidentEvent, Notification, Target


def _insert(conn: Connection | Engine, table: Any) -> Any:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)


class AlertQueries:
    """Mixed into Store; ``self.engine`` is the Store's engine."""

    engine: Engine

    # --- incidents (inside the check's transaction) ---------------------------------------

    def open_incidents(self, conn: Connection, target_id: int) -> list[dict[str, Any]]:
        """The target's open incidents, one per dimension at most."""
        rows = conn.execute(select(Incident).where(Incident.target_id == target_id,
                                                   Incident.status == "open")
                            .order_by(Incident.id))
        return [dict(r._mapping) for r in rows]

    def insert_incident(self, conn: Connection, values: dict[str, Any]) -> int:
        return int(conn.execute(_insert(conn, Incident).values(**values)
                                .returning(Incident.id)).scalar_one())

    def update_incident(self, conn: Connection, incident_id: int, values: dict[str, Any]) -> None:
        conn.execute(update(Incident).where(Incident.id == incident_id).values(**values))

    def add_incident_event(self, conn: Connection, values: dict[str, Any]) -> None:
        conn.execute(_insert(conn, IncidentEvent).values(**values))

    def enqueue(self, conn: Connection, row: dict[str, Any]) -> bool:
        """Queue a notification; False when its dedup key is already queued (nothing added)."""
        stmt = (_insert(conn, Notification).values(**row)
                .on_conflict_do_nothing(index_elements=["dedup_key"])
                .returning(Notification.id))
        return conn.execute(stmt).first() is not None

    # --- the outbox (own transactions) ----------------------------------------------------

    def enqueue_notification(self, row: dict[str, Any]) -> bool:
        with self.engine.begin() as conn:
            return self.enqueue(conn, row)

    def notification_by_key(self, dedup_key: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(Notification)
                               .where(Notification.dedup_key == dedup_key)).first()
            return dict(row._mapping) if row else None

    def pending_notification_ids(self, now: datetime, *, due_only: bool,
                                 keys: Sequence[str] | None = None) -> list[int]:
        """Pending notifications in the order they were queued; with ``due_only`` only those
        whose backoff has elapsed."""
        q = select(Notification.id).where(Notification.status == "pending")
        if due_only:
            q = q.where(Notification.next_attempt_at <= now)
        if keys is not None:
            q = q.where(Notification.dedup_key.in_(list(keys)))
        with self.engine.connect() as conn:
            return list(conn.execute(q.order_by(Notification.id)).scalars())

    def claim_notification(self, notification_id: int, now: datetime,
                           lease_until: datetime) -> dict[str, Any] | None:
        """Claim a pending notification for one delivery attempt with a conditional UPDATE.

        Returns the row, or None when it was delivered, failed or claimed by another process
        meanwhile. A claim that is never released (a crash) expires at ``lease_until``.
        """
        with self.engine.begin() as conn:
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
            return dict(row._mapping)

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
        with self.engine.begin() as conn:
            conn.execute(update(Notification).where(Notification.id == notification_id)
                         .values(**values))

    def release_claim(self, notification_id: int) -> None:
        """Give a claimed notification back untouched (it was not attempted)."""
        with self.engine.begin() as conn:
            conn.execute(update(Notification).where(Notification.id == notification_id)
                         .values(claimed_until=None))

    def notifications(self, *, status: str | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
        """Notifications newest first, with their target's name."""
        q = (select(Notification, Target.name.label("target"))
             .outerjoin(Target, Target.id == Notification.target_id)
             .order_by(Notification.id.desc()).limit(limit))
        if status is not None:
            q = q.where(Notification.status == status)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def notification_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(Notification.status, func.count())
                                .group_by(Notification.status))
            return {str(s): int(n) for s, n in rows}

    # --- reading incidents ----------------------------------------------------------------

    def incidents(self, *, target_id: int | None = None, since: datetime | None = None,
                  status: str | None = None) -> list[dict[str, Any]]:
        """Incidents oldest first; with ``since``, those open at or after that time."""
        q = select(Incident, Target.name.label("target")).join(Target,
                                                               Target.id == Incident.target_id)
        if target_id is not None:
            q = q.where(Incident.target_id == target_id)
        if status is not None:
            q = q.where(Incident.status == status)
        if since is not None:
            q = q.where(or_(Incident.closed_at.is_(None), Incident.closed_at >= since))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q.order_by(Incident.id))]

    def incident_events(self, incident_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(IncidentEvent)
                                .where(IncidentEvent.incident_id == incident_id)
                                .order_by(IncidentEvent.id))
            return [dict(r._mapping) for r in rows]
