"""The one place for queries. Everything that reads or writes the database goes through Store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from drift_monitor.probes import Probe
from drift_monitor.storage.tables import ProbeVersion, Response, Run, Target, utcnow

RUN_STATUSES = ("running", "complete", "partial", "failed")


@dataclass(frozen=True)
class RunSummary:
    id: int
    target: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    expected: int
    ok: int
    failed: int
    failures_by_kind: dict[str, int]


def _insert(engine: Engine, table: Any) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class Store:
    """Typed access to the tables. Methods open their own short transactions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- targets and probe versions -------------------------------------------------------

    def upsert_target(self, name: str, provider: str, model: str) -> int:
        """The id of target ``name``; created on first use, provider/model kept current."""
        with self.engine.begin() as conn:
            stmt = _insert(self.engine, Target).values(
                name=name, provider=provider, model=model, created_at=utcnow())
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            conn.execute(update(Target).where(Target.name == name)
                         .values(provider=provider, model=model))
            return int(conn.execute(select(Target.id).where(Target.name == name)).scalar_one())

    def target_id(self, name: str) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(select(Target.id).where(Target.name == name)).scalar_one_or_none()

    def ensure_probe_versions(self, probes: Iterable[Probe]) -> dict[tuple[str, str, str], int]:
        """Ids of the probes' versions keyed by (suite, probe id, version); new ones inserted."""
        probes = list(probes)
        with self.engine.begin() as conn:
            for p in probes:
                stmt = _insert(self.engine, ProbeVersion).values(
                    suite=p.suite, probe_id=p.id, version=p.version, content=p.content,
                    created_at=utcnow())
                conn.execute(stmt.on_conflict_do_nothing(
                    index_elements=["suite", "probe_id", "version"]))
            rows = conn.execute(select(ProbeVersion.id, ProbeVersion.suite, ProbeVersion.probe_id,
                                       ProbeVersion.version)
                                .where(ProbeVersion.version.in_({p.version for p in probes})))
            return {(r.suite, r.probe_id, r.version): r.id for r in rows}

    # --- runs and responses ---------------------------------------------------------------

    def create_run(self, target_id: int, expected: int, *, trigger: str = "manual",
                   scheduled_for: datetime | None = None) -> int:
        with self.engine.begin() as conn:
            run_id = conn.execute(
                _insert(self.engine, Run).values(
                    target_id=target_id, status="running", trigger=trigger,
                    started_at=utcnow(), scheduled_for=scheduled_for, expected_count=expected,
                    ok_count=0, failed_count=0).returning(Run.id)).scalar_one()
            return int(run_id)

    def insert_responses(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert responses in one transaction; a row whose (run, probe version, sample) key
        is already stored is skipped, so a retried write never duplicates. Returns rows added."""
        if not rows:
            return 0
        stmt = _insert(self.engine, Response).on_conflict_do_nothing(
            index_elements=["run_id", "probe_version_id", "sample_index"])
        now = utcnow()
        values = [{"created_at": now, "attempts": 1, **r} for r in rows]
        with self.engine.begin() as conn:
            result = conn.execute(stmt, values)
            return max(0, int(result.rowcount or 0))

    def finish_run(self, run_id: int, *, note: str | None = None) -> RunSummary:
        """Count the run's stored responses, set its status and return its summary."""
        with self.engine.begin() as conn:
            ok, failed = conn.execute(
                select(func.count().filter(Response.ok.is_(True)),
                       func.count().filter(Response.ok.is_(False)))
                .where(Response.run_id == run_id)).one()
            expected = conn.execute(select(Run.expected_count)
                                    .where(Run.id == run_id)).scalar_one()
            if ok == 0:
                status = "failed"
            elif ok >= expected:
                status = "complete"
            else:
                status = "partial"
            conn.execute(update(Run).where(Run.id == run_id).values(
                status=status, ok_count=ok, failed_count=failed, finished_at=utcnow(),
                note=note))
        return self.run_summary(run_id)

    def run_summary(self, run_id: int) -> RunSummary:
        with Session(self.engine) as s:
            r, target_name = s.execute(select(Run, Target.name).join(Target)
                                       .where(Run.id == run_id)).one()
            kinds = s.execute(select(Response.error_kind, func.count())
                              .where(Response.run_id == run_id, Response.ok.is_(False))
                              .group_by(Response.error_kind)).all()
        return RunSummary(id=r.id, target=target_name, status=r.status, trigger=r.trigger,
                          started_at=r.started_at, finished_at=r.finished_at,
                          expected=r.expected_count, ok=r.ok_count, failed=r.failed_count,
                          failures_by_kind={str(k): int(n) for k, n in kinds})

    def runs(self, target: str | None = None, *, status: str | None = None,
             limit: int = 50) -> list[RunSummary]:
        """Most recent runs first."""
        q = select(Run.id).join(Target).order_by(Run.id.desc()).limit(limit)
        if target is not None:
            q = q.where(Target.name == target)
        if status is not None:
            q = q.where(Run.status == status)
        with self.engine.connect() as conn:
            ids = list(conn.execute(q).scalars())
        return [self.run_summary(i) for i in ids]

    def spend_since(self, target_id: int, since: datetime) -> float:
        """US dollars of the target's responses stored at or after ``since`` (0.0 if none).

        The daily budget asks this with the start of the UTC day. Responses without a cost
        (failures, targets without a price) count as nothing.
        """
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(Response.cost_usd), 0.0))
                .join(Run, Run.id == Response.run_id)
                .where(Run.target_id == target_id, Response.created_at >= since)).scalar_one()
        return float(total or 0.0)

    def responses(self, run_id: int) -> list[Response]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.scalars(select(Response).where(Response.run_id == run_id)
                                  .order_by(Response.probe_version_id, Response.sample_index)))
