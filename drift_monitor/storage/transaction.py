"""The unit of work: ``with store.transaction() as tx:`` and every write made through ``tx``
commits together, or (when the block raises) none of it does.

A check's findings, the incident changes they cause and the notifications those queue are
written through one Transaction, so an alert is never lost and never sent for a check that was
not stored; a baseline pin, the operator action that records who pinned it and the incidents
its acceptance closes, likewise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from drift_monitor.clock import utc_now
from drift_monitor.storage.rows import IncidentRow, SilenceRow, row_of
from drift_monitor.storage.sql import insert
from drift_monitor.storage.tables import (
    Baseline,
    BaselineRun,
    Check,
    DetectionEvidence,
    FindingRow,
    Incident,
    IncidentEvent,
    Notification,
    OperatorAction,
    Silence,
)


def silence_active(now: datetime) -> Any:
    """The condition of a silence in force at ``now``."""
    return ((Silence.starts_at <= now) & (Silence.ends_at > now)
            & Silence.expired_at.is_(None))


class Transaction:
    """The write methods of one open transaction (made by ``Store.transaction()``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # --- checks and baselines -------------------------------------------------------------

    def save_check(self, check: dict[str, Any], findings: Sequence[dict[str, Any]], *,
                   evidence: dict[str, Any] | None = None) -> int:
        """Store a check and its findings; with ``evidence``, the target's sequential evidence
        is replaced too, so a crash never keeps evidence of a check that was not stored (or
        the reverse). Returns the check's id."""
        conn = self._conn
        cid = int(conn.execute(insert(conn, Check).values(created_at=utc_now(), **check)
                               .returning(Check.id)).scalar_one())
        if findings:
            conn.execute(insert(conn, FindingRow),
                         [{"check_id": cid, "target_id": check["target_id"], **f}
                          for f in findings])
        if evidence is not None:
            tid = check["target_id"]
            conn.execute(delete(DetectionEvidence).where(DetectionEvidence.target_id == tid))
            conn.execute(insert(conn, DetectionEvidence).values(
                target_id=tid, baseline_id=evidence.get("baseline_id"), check_id=cid,
                state=evidence, updated_at=utc_now()))
        return cid

    def pin_baseline(self, target_id: int, run_ids: Sequence[int], *, reason: str,
                     note: str | None = None) -> int:
        """Make ``run_ids`` the target's baseline; the previous one is kept as history."""
        conn = self._conn
        now = utc_now()
        conn.execute(update(Baseline).where(Baseline.target_id == target_id,
                                            Baseline.active.is_(True))
                     .values(active=False, superseded_at=now))
        bid = int(conn.execute(insert(conn, Baseline).values(
            target_id=target_id, created_at=now, reason=reason, active=True, note=note)
            .returning(Baseline.id)).scalar_one())
        conn.execute(insert(conn, BaselineRun),
                     [{"baseline_id": bid, "run_id": r} for r in run_ids])
        return bid

    def record_action(self, values: dict[str, Any]) -> None:
        """One operator action (who pinned a baseline by hand)."""
        self._conn.execute(insert(self._conn, OperatorAction).values(**values))

    # --- incidents and the outbox ---------------------------------------------------------

    def open_incidents(self, target_id: int) -> list[IncidentRow]:
        """The target's open incidents, one per dimension at most."""
        rows = self._conn.execute(select(Incident).where(Incident.target_id == target_id,
                                                         Incident.status == "open")
                                  .order_by(Incident.id))
        return [row_of(IncidentRow, r) for r in rows]

    def insert_incident(self, values: dict[str, Any]) -> int:
        return int(self._conn.execute(insert(self._conn, Incident).values(**values)
                                      .returning(Incident.id)).scalar_one())

    def update_incident(self, incident_id: int, values: dict[str, Any]) -> None:
        self._conn.execute(update(Incident).where(Incident.id == incident_id).values(**values))

    def add_incident_event(self, values: dict[str, Any]) -> None:
        self._conn.execute(insert(self._conn, IncidentEvent).values(**values))

    def enqueue(self, row: dict[str, Any]) -> bool:
        """Queue a notification; False when its dedup key is already queued (nothing added)."""
        stmt = (insert(self._conn, Notification).values(**row)
                .on_conflict_do_nothing(index_elements=["dedup_key"])
                .returning(Notification.id))
        return self._conn.execute(stmt).first() is not None

    def active_silences(self, target: str, now: datetime) -> list[SilenceRow]:
        """The target's silences in force at ``now``."""
        rows = self._conn.execute(select(Silence).where(Silence.target == target,
                                                        silence_active(now))
                                  .order_by(Silence.id))
        return [row_of(SilenceRow, r) for r in rows]
