"""The one place for queries. Everything that reads or writes the database goes through Store."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from drift_monitor.clock import utc_now
from drift_monitor.probes import Probe
from drift_monitor.storage.alert_queries import AlertQueries
from drift_monitor.storage.console_queries import ConsoleQueries
from drift_monitor.storage.daemon_queries import DaemonQueries
from drift_monitor.storage.digest_queries import DigestQueries
from drift_monitor.storage.operator_queries import OperatorQueries
from drift_monitor.storage.ops_queries import OpsQueries
from drift_monitor.storage.rows import BaselineSummary
from drift_monitor.storage.run_queries import RunQueries
from drift_monitor.storage.sql import insert
from drift_monitor.storage.tables import (
    Baseline,
    BaselineRun,
    Check,
    DetectionEvidence,
    FindingRow,
    ProbeVersion,
    Response,
    ResponseFeatures,
    Run,
    Target,
)
from drift_monitor.storage.transaction import Transaction


class Store(RunQueries, AlertQueries, DigestQueries, DaemonQueries, OpsQueries,
            OperatorQueries, ConsoleQueries):
    """Typed access to the tables. Methods open their own short transactions (runs and
    responses live in run_queries.py, incident and outbox queries in alert_queries.py, the
    digest's in digest_queries.py, the daemon's in daemon_queries.py); writes that must commit
    together go through :meth:`transaction`. Errors are the StorageError tree, never
    SQLAlchemy's."""

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One unit of work: what is written through the Transaction commits together when
        the block ends, or not at all when it raises."""
        with self._write() as conn:
            yield Transaction(conn)

    # --- targets and probe versions -------------------------------------------------------

    def upsert_target(self, name: str, provider: str, model: str) -> int:
        """The id of target ``name``; created on first use, provider/model kept current."""
        with self._write() as conn:
            stmt = insert(conn, Target).values(
                name=name, provider=provider, model=model, created_at=utc_now())
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            conn.execute(update(Target).where(Target.name == name)
                         .values(provider=provider, model=model))
            return int(conn.execute(select(Target.id).where(Target.name == name)).scalar_one())

    def target_id(self, name: str) -> int | None:
        with self._read() as conn:
            return conn.execute(select(Target.id).where(Target.name == name)).scalar_one_or_none()

    def ensure_probe_versions(self, probes: Iterable[Probe]) -> dict[tuple[str, str, str], int]:
        """Ids of the probes' versions keyed by (suite, probe id, version); new ones inserted
        (in one statement: a round usually finds them all stored already)."""
        probes = list(probes)
        versions = {p.version for p in probes}
        query = (select(ProbeVersion.id, ProbeVersion.suite, ProbeVersion.probe_id,
                        ProbeVersion.version).where(ProbeVersion.version.in_(versions)))
        with self._write() as conn:
            known = {(r.suite, r.probe_id, r.version): r.id for r in conn.execute(query)}
            missing = [p for p in probes if (p.suite, p.id, p.version) not in known]
            if not missing:
                return known
            now = utc_now()
            conn.execute(insert(conn, ProbeVersion).on_conflict_do_nothing(
                index_elements=["suite", "probe_id", "version"]),
                [{"suite": p.suite, "probe_id": p.id, "version": p.version,
                  "content": p.content, "created_at": now} for p in missing])
            return {(r.suite, r.probe_id, r.version): r.id for r in conn.execute(query)}

    # --- features -------------------------------------------------------------------------

    def save_features(self, items: Sequence[tuple[int, dict[str, Any]]], version: str) -> None:
        """Store (response id, feature values) under ``version``, replacing older rows."""
        if not items:
            return
        ids = [i for i, _ in items]
        with self._write() as conn:
            conn.execute(delete(ResponseFeatures).where(ResponseFeatures.response_id.in_(ids)))
            conn.execute(insert(conn, ResponseFeatures), [
                {"response_id": i, "feature_set_version": version, "values": v,
                 "computed_at": utc_now()} for i, v in items])

    def stale_feature_rows(self, version: str, *, target: str | None = None,
                           after_id: int = 0, limit: int = 500) -> list[tuple[int, str, Any]]:
        """(response id, text, probe expect) of successful responses whose features are
        missing or from another feature-set version, in id order after ``after_id``."""
        q = (select(Response.id, Response.text, ProbeVersion.content)
             .join(ProbeVersion, ProbeVersion.id == Response.probe_version_id)
             .outerjoin(ResponseFeatures, ResponseFeatures.response_id == Response.id)
             .where(Response.ok.is_(True), Response.id > after_id,
                    (ResponseFeatures.response_id.is_(None))
                    | (ResponseFeatures.feature_set_version != version))
             .order_by(Response.id).limit(limit))
        if target is not None:
            q = q.join(Run, Run.id == Response.run_id).join(Target).where(Target.name == target)
        with self._read() as conn:
            return [(r.id, r.text or "", (r.content or {}).get("expect"))
                    for r in conn.execute(q)]

    def count_stale_features(self, version: str, *, target: str | None = None) -> int:
        q = (select(func.count()).select_from(Response)
             .outerjoin(ResponseFeatures, ResponseFeatures.response_id == Response.id)
             .where(Response.ok.is_(True),
                    (ResponseFeatures.response_id.is_(None))
                    | (ResponseFeatures.feature_set_version != version)))
        if target is not None:
            q = q.join(Run, Run.id == Response.run_id).join(Target).where(Target.name == target)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())

    def load_responses(self, run_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Every response of the runs with its probe key and stored features (or None)."""
        q = (select(Response.id, Response.run_id, Response.ok, Response.text,
                    Response.error_kind, Response.model_returned, Response.fingerprint,
                    Response.latency_ms, Response.finish_reason, Response.output_tokens,
                    ProbeVersion.suite, ProbeVersion.probe_id, ProbeVersion.version,
                    ProbeVersion.content, ResponseFeatures.feature_set_version,
                    ResponseFeatures.values)
             .join(ProbeVersion, ProbeVersion.id == Response.probe_version_id)
             .outerjoin(ResponseFeatures, ResponseFeatures.response_id == Response.id)
             .where(Response.run_id.in_(list(run_ids)))
             .order_by(Response.id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # --- baselines ------------------------------------------------------------------------

    def finished_runs(self, target_id: int, *, newest_first: bool = False,
                      exclude: Iterable[int] = (), limit: int = 100, after: int | None = None,
                      statuses: tuple[str, ...] = ("complete", "partial"),
                      exclude_triggers: tuple[str, ...] = ("confirmation", "compare"),
                      ) -> list[int]:
        """Ids of the target's finished runs with a usable status. Confirmation rounds are
        left out by default: they hold only the probes that drifted, a biased sample; so are
        ``compare`` rounds, which hold only the probes two targets share."""
        q = (select(Run.id).where(Run.target_id == target_id, Run.status.in_(statuses),
                                  Run.trigger.not_in(exclude_triggers))
             .order_by(Run.id.desc() if newest_first else Run.id.asc()).limit(limit))
        ex = list(exclude)
        if ex:
            q = q.where(Run.id.not_in(ex))
        if after is not None:
            q = q.where(Run.id > after)
        with self._read() as conn:
            return list(conn.execute(q).scalars())

    def runs_since(self, target_id: int, since: datetime, *,
                   statuses: tuple[str, ...] = ("complete", "partial")) -> list[int]:
        """Ids of the target's finished runs started at or after ``since``, newest first;
        confirmation rounds (biased: only the probes that drifted) are left out."""
        q = (select(Run.id).where(Run.target_id == target_id, Run.status.in_(statuses),
                                  Run.trigger != "confirmation", Run.started_at >= since)
             .order_by(Run.id.desc()))
        with self._read() as conn:
            return list(conn.execute(q).scalars())

    def response_usage(self, run_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Per response of the runs: probe key parts, ok, latency, tokens and cost."""
        q = (select(Response.ok, Response.latency_ms, Response.input_tokens,
                    Response.output_tokens, Response.cost_usd, ProbeVersion.suite,
                    ProbeVersion.probe_id, ProbeVersion.version)
             .join(ProbeVersion, ProbeVersion.id == Response.probe_version_id)
             .where(Response.run_id.in_(list(run_ids))).order_by(Response.id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def active_baseline(self, target_id: int) -> tuple[int, list[int]] | None:
        """(baseline id, its run ids) of the target's pinned baseline, if any."""
        with self._read() as conn:
            bid = conn.execute(select(Baseline.id).where(Baseline.target_id == target_id,
                                                         Baseline.active.is_(True))
                               .order_by(Baseline.id.desc()).limit(1)).scalar_one_or_none()
            if bid is None:
                return None
            runs = conn.execute(select(BaselineRun.run_id).where(BaselineRun.baseline_id == bid)
                                .order_by(BaselineRun.run_id)).scalars()
            return int(bid), list(runs)

    def pin_baseline(self, target_id: int, run_ids: Sequence[int], *, reason: str,
                     note: str | None = None) -> int:
        """Make ``run_ids`` the target's baseline in a transaction of its own (see
        Transaction.pin_baseline)."""
        with self.transaction() as tx:
            return tx.pin_baseline(target_id, run_ids, reason=reason, note=note)

    def baseline_history(self, target_id: int) -> list[BaselineSummary]:
        """Every baseline of the target, newest first, with its runs and response count."""
        with self._read() as conn:
            rows = conn.execute(select(Baseline).where(Baseline.target_id == target_id)
                                .order_by(Baseline.id.desc())).all()
            out = []
            for b in rows:
                runs = list(conn.execute(select(BaselineRun.run_id)
                                         .where(BaselineRun.baseline_id == b.id)
                                         .order_by(BaselineRun.run_id)).scalars())
                n = conn.execute(select(func.count()).select_from(Response)
                                 .where(Response.run_id.in_(runs),
                                        Response.ok.is_(True))).scalar_one()
                out.append(BaselineSummary(
                    id=b.id, created_at=b.created_at, reason=b.reason, active=b.active,
                    superseded_at=b.superseded_at, note=b.note, runs=runs, responses=int(n)))
            return out

    # --- checks and findings --------------------------------------------------------------

    def save_check(self, check: dict[str, Any], findings: Sequence[dict[str, Any]], *,
                   evidence: dict[str, Any] | None = None) -> int:
        """Store a check and its findings in a transaction of its own (see
        Transaction.save_check; a check with incidents goes through :meth:`transaction`)."""
        with self.transaction() as tx:
            return tx.save_check(check, findings, evidence=evidence)

    def load_evidence(self, target_id: int) -> dict[str, Any] | None:
        """The target's stored sequential evidence (as saved with its last check), if any."""
        with self._read() as conn:
            state = conn.execute(select(DetectionEvidence.state)
                                 .where(DetectionEvidence.target_id == target_id)
                                 ).scalar_one_or_none()
            return dict(state) if state is not None else None

    def last_check(self, target_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The target's most recent check and its findings."""
        with self._read() as conn:
            row = conn.execute(select(Check).where(Check.target_id == target_id)
                               .order_by(Check.id.desc()).limit(1)).first()
            if row is None:
                return None
            findings = conn.execute(select(FindingRow).where(FindingRow.check_id == row.id)
                                    .order_by(FindingRow.id)).all()
            return dict(row._mapping), [dict(f._mapping) for f in findings]
