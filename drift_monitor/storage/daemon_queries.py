"""Queries for the daemon: slot claims, missed slots, leases and health (a part of Store).

A slot is claimed with ``INSERT ... ON CONFLICT DO NOTHING`` on the unique (target,
scheduled_for) key: on SQLite and PostgreSQL alike exactly one insert wins, so one slot is
probed at most once however many daemons race for it. Missed slots are rows of the same table
(status ``missed``), inserted the same way, so a slot is either run or recorded missed, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update

from drift_monitor.storage.base import StoreBase
from drift_monitor.storage.rows import DaemonLeaseRow, SlotClaimRow, row_of
from drift_monitor.storage.sql import insert
from drift_monitor.storage.tables import (
    DaemonLease,
    Incident,
    Notification,
    Run,
    SlotClaim,
    Target,
)


class DaemonQueries(StoreBase):
    """Mixed into Store."""

    # --- leases ---------------------------------------------------------------------------

    def live_daemons(self, stale_before: datetime) -> list[DaemonLeaseRow]:
        """Daemons whose heartbeat is newer than ``stale_before``."""
        with self._read() as conn:
            rows = conn.execute(select(DaemonLease)
                                .where(DaemonLease.heartbeat_at >= stale_before))
            return [row_of(DaemonLeaseRow, r) for r in rows]

    def register_daemon(self, daemon_id: str, host: str, pid: int, now: datetime) -> None:
        with self._write() as conn:
            conn.execute(insert(self.engine, DaemonLease).values(
                daemon_id=daemon_id, host=host, pid=pid, started_at=now, heartbeat_at=now))

    def heartbeat(self, daemon_id: str, now: datetime, lease_until: datetime) -> None:
        """Renew the daemon's lease and the leases of the slots it is running."""
        with self._write() as conn:
            conn.execute(update(DaemonLease).where(DaemonLease.daemon_id == daemon_id)
                         .values(heartbeat_at=now))
            conn.execute(update(SlotClaim).where(SlotClaim.daemon_id == daemon_id,
                                                 SlotClaim.status == "running")
                         .values(lease_until=lease_until))

    def unregister_daemon(self, daemon_id: str) -> None:
        with self._write() as conn:
            conn.execute(delete(DaemonLease).where(DaemonLease.daemon_id == daemon_id))

    # --- slots ----------------------------------------------------------------------------

    def claim_slot(self, target: str, slot: datetime, *, daemon_id: str, now: datetime,
                   lease_until: datetime, trigger: str) -> bool:
        """True when this call claimed the slot; False when it was already claimed or missed."""
        stmt = (insert(self.engine, SlotClaim).values(
            target=target, scheduled_for=slot, status="running", trigger=trigger,
            daemon_id=daemon_id, claimed_at=now, lease_until=lease_until)
            .on_conflict_do_nothing(index_elements=["target", "scheduled_for"])
            .returning(SlotClaim.id))
        with self._write() as conn:
            return conn.execute(stmt).first() is not None

    def record_missed(self, target: str, slots: Iterable[datetime], *, now: datetime,
                      note: str) -> int:
        """Record slots as missed unless they are claimed already; returns rows added."""
        values = [{"target": target, "scheduled_for": s, "status": "missed", "trigger": "schedule",
                   "daemon_id": None, "claimed_at": now, "lease_until": None, "finished_at": now,
                   "run_id": None, "note": note} for s in slots]
        if not values:
            return 0
        stmt = (insert(self.engine, SlotClaim)
                .on_conflict_do_nothing(index_elements=["target", "scheduled_for"])
                .returning(SlotClaim.id))
        with self._write() as conn:
            return len(conn.execute(stmt, values).all())

    def last_slot(self, target: str, before: datetime | None = None) -> datetime | None:
        """The latest slot of ``target`` with a row (claimed or missed), before ``before``."""
        q = select(func.max(SlotClaim.scheduled_for)).where(SlotClaim.target == target)
        if before is not None:
            q = q.where(SlotClaim.scheduled_for < before)
        with self._read() as conn:
            # max() keeps the column's type, so the value comes back as an aware UTC datetime
            return conn.execute(q).scalar_one_or_none()

    def running_elsewhere(self, target: str, slot: datetime, now: datetime) -> bool:
        """True while an earlier slot of ``target`` is still running under a live lease."""
        with self._read() as conn:
            n = conn.execute(select(func.count()).select_from(SlotClaim).where(
                SlotClaim.target == target, SlotClaim.status == "running",
                SlotClaim.scheduled_for < slot, SlotClaim.lease_until > now)).scalar_one()
        return bool(n)

    def finish_slot(self, target: str, slot: datetime, *, status: str, now: datetime,
                    run_id: int | None = None, note: str | None = None) -> None:
        with self._write() as conn:
            conn.execute(update(SlotClaim).where(SlotClaim.target == target,
                                                 SlotClaim.scheduled_for == slot)
                         .values(status=status, finished_at=now, run_id=run_id, note=note,
                                 lease_until=None))

    def expired_claims(self, now: datetime) -> list[SlotClaimRow]:
        """Running claims whose lease ran out: their daemon died mid-round."""
        with self._read() as conn:
            rows = conn.execute(select(SlotClaim).where(SlotClaim.status == "running",
                                                        SlotClaim.lease_until < now))
            return [row_of(SlotClaimRow, r) for r in rows]

    def abandon_claim(self, claim_id: int, now: datetime, note: str) -> bool:
        """Mark an expired claim abandoned (a conditional UPDATE: one daemon does it)."""
        with self._write() as conn:
            return conn.execute(update(SlotClaim).where(SlotClaim.id == claim_id,
                                                        SlotClaim.status == "running",
                                                        SlotClaim.lease_until < now)
                                .values(status="abandoned", finished_at=now, note=note,
                                        lease_until=None)).rowcount == 1

    def slot_claims(self, target: str | None = None) -> list[SlotClaimRow]:
        """Every slot row, oldest slot first."""
        q = select(SlotClaim).order_by(SlotClaim.scheduled_for, SlotClaim.id)
        if target is not None:
            q = q.where(SlotClaim.target == target)
        with self._read() as conn:
            return [row_of(SlotClaimRow, r) for r in conn.execute(q)]

    def running_run(self, target: str, *, slot: datetime | None = None,
                    trigger: str | None = None) -> int | None:
        """The id of the target's latest unfinished run (for ``slot``, or of ``trigger``)."""
        q = (select(Run.id).join(Target, Target.id == Run.target_id)
             .where(Target.name == target, Run.status == "running")
             .order_by(Run.id.desc()).limit(1))
        if slot is not None:
            q = q.where(Run.scheduled_for == slot)
        if trigger is not None:
            q = q.where(Run.trigger == trigger)
        with self._read() as conn:
            return conn.execute(q).scalar_one_or_none()

    # --- health ---------------------------------------------------------------------------

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(text("SELECT 1"))

    def last_runs(self) -> dict[str, dict[str, Any]]:
        """Per target name: its latest run's id, status, scheduled time and finish time."""
        latest = (select(Run.target_id, func.max(Run.id).label("id"))
                  .where(Run.trigger != "confirmation").group_by(Run.target_id).subquery())
        q = (select(Target.name, Run.id, Run.status, Run.started_at, Run.finished_at,
                    Run.scheduled_for)
             .join(latest, latest.c.id == Run.id).join(Target, Target.id == Run.target_id))
        with self._read() as conn:
            return {r.name: {k: v for k, v in r._mapping.items() if k != "name"}
                    for r in conn.execute(q)}

    def gauges(self) -> dict[str, Any]:
        """Open incidents per target, notifications per status and per channel and status, for
        health and metrics."""
        with self._read() as conn:
            incidents = {str(n): int(c) for n, c in conn.execute(
                select(Target.name, func.count()).select_from(Incident)
                .join(Target, Target.id == Incident.target_id)
                .where(Incident.status == "open").group_by(Target.name))}
            outbox = {str(s): int(c) for s, c in conn.execute(
                select(Notification.status, func.count()).group_by(Notification.status))}
            channels: dict[str, dict[str, int]] = {}
            for ch, st, c in conn.execute(
                    select(Notification.channel, Notification.status, func.count())
                    .group_by(Notification.channel, Notification.status)):
                channels.setdefault(str(ch), {})[str(st)] = int(c)
        return {"open_incidents": incidents, "outbox": outbox, "channels": channels}
