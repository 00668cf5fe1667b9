"""Queries for incident operations: silences, acknowledgements and the audit log (a part of
Store, kept in its own module). Every write stores an ``operator_actions`` row in the same
transaction, so an action and the record of who took it are committed together."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from drift_monitor.storage.base import StoreBase
from drift_monitor.storage.rows import IncidentRow, OperatorActionRow, SilenceRow, row_of
from drift_monitor.storage.sql import insert
from drift_monitor.storage.tables import (
    Incident,
    IncidentEvent,
    OperatorAction,
    Silence,
    Target,
)
from drift_monitor.storage.transaction import silence_active


class OperatorQueries(StoreBase):
    """Mixed into Store."""

    # --- silences -------------------------------------------------------------------------

    def add_silence(self, values: dict[str, Any], *, actor: str, now: datetime) -> int:
        """Store a silence and the action that made it; returns its id."""
        with self._write() as conn:
            sid = int(conn.execute(insert(conn, Silence).values(
                created_by=actor, created_at=now, **values)
                .returning(Silence.id)).scalar_one())
            conn.execute(insert(conn, OperatorAction).values(
                at=now, actor=actor, action="silence_add", target=values["target"],
                silence_id=sid, note=values["reason"]))
            return sid

    def silence(self, silence_id: int) -> SilenceRow | None:
        with self._read() as conn:
            row = conn.execute(select(Silence).where(Silence.id == silence_id)).first()
            return row_of(SilenceRow, row) if row else None

    def silences(self, *, now: datetime, active_only: bool = True,
                 target: str | None = None, limit: int = 200) -> list[SilenceRow]:
        """Silences newest first (only those in force at ``now`` with ``active_only``)."""
        q = select(Silence).order_by(Silence.id.desc()).limit(limit)
        if active_only:
            q = q.where(silence_active(now))
        if target is not None:
            q = q.where(Silence.target == target)
        with self._read() as conn:
            return [row_of(SilenceRow, r) for r in conn.execute(q)]

    def expire_silence(self, silence_id: int, *, actor: str, now: datetime,
                       note: str | None = None) -> bool:
        """End a silence now; False when it was already over (expired or past its end)."""
        with self._write() as conn:
            done = conn.execute(update(Silence).where(
                Silence.id == silence_id, Silence.expired_at.is_(None), Silence.ends_at > now)
                .values(expired_at=now, expired_by=actor)).rowcount
            if done != 1:
                return False
            target = conn.execute(select(Silence.target)
                                  .where(Silence.id == silence_id)).scalar_one()
            conn.execute(insert(conn, OperatorAction).values(
                at=now, actor=actor, action="silence_expire", target=target,
                silence_id=silence_id, note=note))
            return True

    def held_back(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Decisions a silence held back in [since, until): event, incident and silence ids,
        target name and dimension, oldest first."""
        q = (select(IncidentEvent.id, IncidentEvent.at, IncidentEvent.silence_id,
                    IncidentEvent.incident_id, Incident.dimension,
                    Target.name.label("target"))
             .join(Incident, Incident.id == IncidentEvent.incident_id)
             .join(Target, Target.id == Incident.target_id)
             .where(IncidentEvent.silence_id.is_not(None), IncidentEvent.at >= since,
                    IncidentEvent.at < until)
             .order_by(IncidentEvent.id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def silences_between(self, since: datetime, until: datetime) -> list[SilenceRow]:
        """Silences in force at some moment of [since, until), oldest first."""
        end = func.coalesce(Silence.expired_at, Silence.ends_at)
        q = (select(Silence).where(Silence.starts_at < until, end > since)
             .order_by(Silence.id))
        with self._read() as conn:
            return [row_of(SilenceRow, r) for r in conn.execute(q)]

    def baseline_actors(self, baseline_ids: list[int]) -> dict[int, str]:
        """Who pinned each of these baselines (those pinned by a person)."""
        if not baseline_ids:
            return {}
        q = (select(OperatorAction.baseline_id, OperatorAction.actor)
             .where(OperatorAction.baseline_id.in_(baseline_ids)))
        with self._read() as conn:
            return {int(b): str(a) for b, a in conn.execute(q) if b is not None}

    # --- acknowledgements -----------------------------------------------------------------

    def ack_incident(self, incident_id: int, *, actor: str, now: datetime,
                     note: str | None) -> bool:
        """Acknowledge an open incident; False when it is not open (or does not exist)."""
        with self._write() as conn:
            done = conn.execute(update(Incident).where(Incident.id == incident_id,
                                                       Incident.status == "open")
                                .values(acked_at=now, acked_by=actor, ack_note=note)).rowcount
            if done != 1:
                return False
            target = conn.execute(select(Target.name).join(Incident,
                                                           Incident.target_id == Target.id)
                                  .where(Incident.id == incident_id)).scalar_one()
            conn.execute(insert(conn, OperatorAction).values(
                at=now, actor=actor, action="ack", target=target, incident_id=incident_id,
                note=note))
            return True

    def incident(self, incident_id: int) -> IncidentRow | None:
        """One incident with its target's name, or None."""
        q = (select(Incident, Target.name.label("target"))
             .join(Target, Target.id == Incident.target_id).where(Incident.id == incident_id))
        with self._read() as conn:
            row = conn.execute(q).first()
            return row_of(IncidentRow, row) if row else None

    def operator_actions(self, *, incident_id: int | None = None, target: str | None = None,
                         limit: int = 100) -> list[OperatorActionRow]:
        """Who did what, newest first: an incident's actions, or a target's (its silences
        and its incidents' acknowledgements)."""
        q = select(OperatorAction).order_by(OperatorAction.id.desc()).limit(limit)
        if incident_id is not None:
            q = q.where(OperatorAction.incident_id == incident_id)
        if target is not None:
            q = q.where(OperatorAction.target == target)
        with self._read() as conn:
            return [row_of(OperatorActionRow, r) for r in conn.execute(q)]
