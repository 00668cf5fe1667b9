"""Read-only queries for the console and ``targets`` (a part of Store, kept in its own module).

Every query is bounded by an index: the latest run or check of a target is a correlated
``max`` on ``(target_id, started_at)`` / ``(target_id, created_at)``, aggregates over "today" or
"the last 24 h" are range scans of the same indexes, and responses are only ever reached through
their ``(run_id, ...)`` key from a handful of runs. benchmarks/console_pages.py shows the plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from drift_monitor.storage.base import StoreBase
from drift_monitor.storage.rows import (
    FindingRecord,
    IncidentRow,
    LatestCheck,
    LatestRun,
    row_of,
)
from drift_monitor.storage.tables import (
    Baseline,
    Check,
    FindingRow,
    Incident,
    Notification,
    ProbeVersion,
    Response,
    Run,
    Target,
)


class ConsoleQueries(StoreBase):
    """Mixed into Store."""

    def target_ids(self, names: Sequence[str]) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(Target.name, Target.id)
                                .where(Target.name.in_(list(names))))
            return {str(n): int(i) for n, i in rows}

    def latest_runs(self, target_ids: Sequence[int]) -> dict[int, LatestRun]:
        """The most recently started run of each target: per target one backward step on
        ``(target_id, started_at)``, then the run by its key."""
        if not target_ids:
            return {}
        r2 = aliased(Run)
        newest = (select(r2.id).where(r2.target_id == Target.id)
                  .order_by(r2.started_at.desc(), r2.id.desc()).limit(1).scalar_subquery())
        q = (select(Run.id, Run.target_id, Run.status, Run.trigger, Run.started_at,
                    Run.finished_at, Run.ok_count, Run.failed_count, Run.note)
             .select_from(Target).join(Run, Run.id == newest)
             .where(Target.id.in_(list(target_ids))))
        with self._read() as conn:
            return {r.target_id: row_of(LatestRun, r) for r in conn.execute(q)}

    def latest_checks(self, target_ids: Sequence[int]) -> dict[int, LatestCheck]:
        """The most recent check of each target (as latest_runs, on ``(target_id,
        created_at)``)."""
        if not target_ids:
            return {}
        c2 = aliased(Check)
        newest = (select(c2.id).where(c2.target_id == Target.id)
                  .order_by(c2.created_at.desc(), c2.id.desc()).limit(1).scalar_subquery())
        q = (select(Check.id, Check.target_id, Check.status, Check.drift, Check.created_at,
                    Check.error)
             .select_from(Target).join(Check, Check.id == newest)
             .where(Target.id.in_(list(target_ids))))
        with self._read() as conn:
            return {r.target_id: row_of(LatestCheck, r) for r in conn.execute(q)}

    def run_totals_since(self, target_ids: Sequence[int],
                         since: datetime) -> dict[int, dict[str, int]]:
        """Per target: runs started at or after ``since`` and their ok / failed calls."""
        if not target_ids:
            return {}
        q = (select(Run.target_id, func.count(), func.coalesce(func.sum(Run.ok_count), 0),
                    func.coalesce(func.sum(Run.failed_count), 0))
             .where(Run.target_id.in_(list(target_ids)), Run.started_at >= since)
             .group_by(Run.target_id))
        with self._read() as conn:
            return {int(t): {"runs": int(n), "ok": int(ok), "failed": int(bad)}
                    for t, n, ok, bad in conn.execute(q)}

    def usage_since(self, target_ids: Sequence[int], since: datetime,
                    day: datetime) -> dict[int, dict[str, Any]]:
        """Per target, over the responses of runs started at or after ``since``: the model
        strings the provider returned, and the cost of the runs started at or after ``day``
        (None when no response has a price).

        Two steps, so that both databases reach responses only through their ``run_id`` key:
        the runs from ``(target_id, started_at)``, then their responses by run id, grouped by
        run (one statement joining the two let PostgreSQL's planner choose a hash join over
        every response, measured with benchmarks/console_pages.py)."""
        if not target_ids:
            return {}
        with self._read() as conn:
            runs = {int(i): (int(t), bool(today)) for i, t, today in conn.execute(
                select(Run.id, Run.target_id, Run.started_at >= day)
                .where(Run.target_id.in_(list(target_ids)), Run.started_at >= since))}
            rows: list[Any] = list(conn.execute(
                select(Response.run_id, Response.model_returned, func.count(),
                       func.sum(Response.cost_usd))
                .where(Response.run_id.in_(list(runs)))
                .group_by(Response.run_id, Response.model_returned))) if runs else []
            out: dict[int, dict[str, Any]] = {}
            for run_id, model, n, cost in rows:
                tid, today = runs[int(run_id)]
                entry = out.setdefault(tid, {"cost_usd": None, "model_strings": {}})
                if cost is not None and today:
                    entry["cost_usd"] = (entry["cost_usd"] or 0.0) + float(cost)
                if model:
                    entry["model_strings"][str(model)] = (entry["model_strings"].get(str(model), 0)
                                                          + int(n))
        return out

    def open_incident_rows(self, target_ids: Sequence[int]) -> list[IncidentRow]:
        """Open incidents of the targets (at most one per target and dimension)."""
        if not target_ids:
            return []
        q = (select(Incident).where(Incident.status == "open",
                                    Incident.target_id.in_(list(target_ids)))
             .order_by(Incident.id))
        with self._read() as conn:
            return [row_of(IncidentRow, r) for r in conn.execute(q)]

    # --- the target page ------------------------------------------------------------------

    def recent_runs(self, target_id: int, *, limit: int = 50,
                    before: datetime | None = None) -> list[dict[str, Any]]:
        """The target's runs newest first, each with its failures by kind."""
        q = (select(Run.id, Run.status, Run.trigger, Run.started_at, Run.finished_at,
                    Run.expected_count, Run.ok_count, Run.failed_count, Run.note)
             .where(Run.target_id == target_id).order_by(Run.started_at.desc()).limit(limit))
        if before is not None:
            q = q.where(Run.started_at < before)
        with self._read() as conn:
            runs = [dict(r._mapping) for r in conn.execute(q)]
            failed = [r["id"] for r in runs if r["failed_count"]]
            kinds: dict[int, dict[str, int]] = {}
            if failed:
                rows = conn.execute(select(Response.run_id, Response.error_kind, func.count())
                                    .where(Response.run_id.in_(failed),
                                           Response.ok.is_(False))
                                    .group_by(Response.run_id, Response.error_kind))
                for run_id, kind, n in rows:
                    kinds.setdefault(int(run_id), {})[str(kind)] = int(n)
        return [{**r, "failures": kinds.get(r["id"], {})} for r in runs]

    def check_series(self, target_id: int, since: datetime,
                     until: datetime) -> list[dict[str, Any]]:
        """The target's checks in [since, until), oldest first, with their findings'
        dimension, severity, confirmation and effect (for the charts)."""
        with self._read() as conn:
            checks = [dict(r._mapping) for r in conn.execute(
                select(Check.id, Check.created_at, Check.status, Check.drift)
                .where(Check.target_id == target_id, Check.created_at >= since,
                       Check.created_at < until).order_by(Check.created_at))]
            if not checks:
                return []
            by_check: dict[int, list[dict[str, Any]]] = {c["id"]: [] for c in checks}
            rows = conn.execute(select(FindingRow.check_id, FindingRow.dimension,
                                       FindingRow.severity, FindingRow.confirmed,
                                       FindingRow.effect)
                                .where(FindingRow.target_id == target_id,
                                       FindingRow.check_id >= min(by_check),
                                       FindingRow.check_id <= max(by_check)))
            for r in rows:
                if r.check_id in by_check:
                    by_check[r.check_id].append(dict(r._mapping))
        return [{**c, "findings": by_check[c["id"]]} for c in checks]

    def probe_versions_of_run(self, run_id: int) -> list[dict[str, Any]]:
        """The probe versions a run asked (suite, probe id, version), sorted."""
        ids = (select(Response.probe_version_id).where(Response.run_id == run_id)
               .distinct().subquery())
        q = (select(ProbeVersion.suite, ProbeVersion.probe_id, ProbeVersion.version,
                    ProbeVersion.created_at)
             .join(ids, ids.c.probe_version_id == ProbeVersion.id)
             .order_by(ProbeVersion.suite, ProbeVersion.probe_id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def accepted_incidents(self, target_id: int) -> dict[int, list[int]]:
        """Baseline id -> the incidents its acceptance closed."""
        q = (select(Incident.accepted_baseline_id, Incident.id)
             .where(Incident.target_id == target_id, Incident.accepted_baseline_id.is_not(None))
             .order_by(Incident.id))
        out: dict[int, list[int]] = {}
        with self._read() as conn:
            for bid, iid in conn.execute(q):
                if bid is not None:
                    out.setdefault(int(bid), []).append(int(iid))
        return out

    def target_incidents(self, target_id: int, *, limit: int = 50) -> list[IncidentRow]:
        """The target's incidents, newest first."""
        q = (select(Incident).where(Incident.target_id == target_id)
             .order_by(Incident.opened_at.desc()).limit(limit))
        with self._read() as conn:
            return [row_of(IncidentRow, r) for r in conn.execute(q)]

    def baselines_count(self, target_id: int) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(Baseline)
                                    .where(Baseline.target_id == target_id)).scalar_one())

    # --- the incident page ----------------------------------------------------------------

    def check_findings(self, target_id: int, check_id: int,
                       dimension: str | None = None) -> list[FindingRecord]:
        """Findings of one check (of one dimension), strongest first."""
        q = select(FindingRow).where(FindingRow.target_id == target_id,
                                     FindingRow.check_id == check_id)
        if dimension is not None:
            q = q.where(FindingRow.dimension == dimension)
        with self._read() as conn:
            return [row_of(FindingRecord, r) for r in conn.execute(q.order_by(FindingRow.id))]

    def incident_notifications(self, incident_id: int,
                               keys: Sequence[str]) -> list[dict[str, Any]]:
        """The outbox rows of an incident: its own, and grouped messages its events queued
        (an event's dedup key is the message key without the channel)."""
        cond = [Notification.incident_id == incident_id]
        cond += [Notification.dedup_key.startswith(f"{k}/", autoescape=True) for k in keys]
        q = (select(Notification.id, Notification.dedup_key, Notification.channel,
                    Notification.kind, Notification.reason, Notification.status,
                    Notification.attempts, Notification.created_at,
                    Notification.delivered_at, Notification.last_attempt_at,
                    Notification.last_error)
             .where(or_(*cond)).order_by(Notification.id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def check_run_ids(self, check_id: int) -> tuple[list[int], list[int]]:
        """(baseline run ids, window run ids incl. the confirmation round) of a check."""
        with self._read() as conn:
            row = conn.execute(select(Check.baseline_run_ids, Check.window_run_ids,
                                      Check.confirmation_run_id)
                               .where(Check.id == check_id)).first()
        if row is None:
            return [], []
        window = list(row.window_run_ids or [])
        if row.confirmation_run_id is not None:
            window.append(int(row.confirmation_run_id))
        return list(row.baseline_run_ids or []), window

    def probe_texts(self, run_ids: Sequence[int], probe_id: str) -> list[str]:
        """The successful answers of one probe (by probe id, any suite or version) in these
        runs: a handful of rows, reached by ``(run_id, ...)``."""
        if not run_ids:
            return []
        q = (select(Response.text).join(ProbeVersion,
                                        ProbeVersion.id == Response.probe_version_id)
             .where(Response.run_id.in_(list(run_ids)), ProbeVersion.probe_id == probe_id,
                    Response.ok.is_(True)).limit(200))
        with self._read() as conn:
            return [str(t) for t in conn.execute(q).scalars() if t is not None]
