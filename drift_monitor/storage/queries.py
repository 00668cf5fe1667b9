"""The one place for queries. Everything that reads or writes the database goes through Store."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from drift_monitor.clock import utc_now
from drift_monitor.probes import Probe
from drift_monitor.storage.alert_queries import AlertQueries
from drift_monitor.storage.bounds import bound_response_row, clean_json, cut
from drift_monitor.storage.console_queries import ConsoleQueries
from drift_monitor.storage.daemon_queries import DaemonQueries
from drift_monitor.storage.digest_queries import DigestQueries
from drift_monitor.storage.engine import database_errors, insert
from drift_monitor.storage.operator_queries import OperatorQueries
from drift_monitor.storage.ops_queries import OpsQueries
from drift_monitor.storage.rows import BaselineSummary
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

RUN_STATUSES = ("running", "complete", "partial", "failed", "abandoned")
# a running run whose heartbeat is this old belongs to a process that stopped (rounds renew
# theirs every RUN_HEARTBEAT_S)
RUN_HEARTBEAT_S = 10.0
STALE_RUN_AFTER = timedelta(seconds=120)


def run_owner() -> str:
    """``host:pid`` of this process, as stored on the runs it creates."""
    return f"{socket.gethostname()[:150]}:{os.getpid()}"


def _owner_is_dead(owner: str | None) -> bool:
    """True when ``owner`` is a process of this host that no longer exists."""
    if not owner or ":" not in owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname()[:150] or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False


_RESPONSE_DEFAULTS: dict[str, Any] = {
    c.name: None for c in Response.__table__.columns if c.name not in ("id", "created_at")}
_RESPONSE_DEFAULTS["attempts"] = 1


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


def _row_specific(exc: BaseException) -> bool:
    """True when the database refused a statement for its values (a too-long string, a NUL,
    an out-of-range number, an unencodable character), not because it is unreachable."""
    if isinstance(exc, DataError | IntegrityError):
        return True
    if isinstance(exc, DBAPIError):  # unreachable, dropped, read-only, locked: not the row
        return False
    # the driver refused to convert a value (SQLite: UnicodeEncodeError, OverflowError)
    return isinstance(exc, StatementError | ValueError | OverflowError)


def _unstorable(row: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """The failure row stored instead of an answer the database refused."""
    orig = getattr(exc, "orig", None) or exc
    reason = (str(orig).strip().splitlines() or [""])[0]
    keep = {k: row.get(k) for k in ("run_id", "probe_version_id", "sample_index", "attempts",
                                   "latency_ms", "http_status")}
    return bound_response_row({
        **keep, "ok": False, "error_kind": "malformed",
        "error_detail": cut(f"the answer could not be stored: {type(orig).__name__}: {reason}",
                            500)})


class Store(AlertQueries, DigestQueries, DaemonQueries, OpsQueries, OperatorQueries,
            ConsoleQueries):
    """Typed access to the tables. Methods open their own short transactions (incident and
    outbox queries live in alert_queries.py, the digest's in digest_queries.py, the daemon's in
    daemon_queries.py)."""

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

    # --- runs and responses ---------------------------------------------------------------

    def create_run(self, target_id: int, expected: int, *, trigger: str = "manual",
                   scheduled_for: datetime | None = None) -> int:
        """A new ``running`` run owned by this process (see :meth:`sweep_stale_runs`)."""
        now = utc_now()
        with self._write() as conn:
            run_id = conn.execute(
                insert(conn, Run).values(
                    target_id=target_id, status="running", trigger=trigger,
                    started_at=now, scheduled_for=scheduled_for, expected_count=expected,
                    ok_count=0, failed_count=0, owner=run_owner(), heartbeat_at=now)
                .returning(Run.id)).scalar_one()
            return int(run_id)

    def touch_run(self, run_id: int) -> None:
        """Renew a running run's sign of life (the round does it every few seconds)."""
        with self._write() as conn:
            conn.execute(update(Run).where(Run.id == run_id, Run.status == "running")
                         .values(heartbeat_at=utc_now()))

    def abandon_run(self, run_id: int, note: str) -> bool:
        """Finish a ``running`` run as ``abandoned`` with its stored counts (a conditional
        UPDATE: only one process does it). Abandoned runs never join a baseline or a check
        window and are not counted as done."""
        with self._write() as conn:
            ok, failed = conn.execute(
                select(func.count().filter(Response.ok.is_(True)),
                       func.count().filter(Response.ok.is_(False)))
                .where(Response.run_id == run_id)).one()
            return conn.execute(update(Run).where(Run.id == run_id, Run.status == "running")
                                .values(status="abandoned", ok_count=ok, failed_count=failed,
                                        finished_at=utc_now(), note=note)).rowcount == 1

    def sweep_stale_runs(self, *, now: datetime | None = None,
                         stale_after: timedelta = STALE_RUN_AFTER) -> list[int]:
        """Finish as ``abandoned`` every run left ``running`` by a process that died.

        A run is stale when its owner is a process of this host that no longer exists, when
        its heartbeat is older than ``stale_after`` (its process, wherever it ran, stopped
        renewing it), or when it has no heartbeat at all (a run from before revision 0007)
        and started over a day ago. Returns the ids abandoned.
        """
        now = now or utc_now()
        q = select(Run.id, Run.owner, Run.heartbeat_at, Run.started_at).where(
            Run.status == "running")
        with self._read() as conn:
            running = conn.execute(q).all()
        stale = []
        for r in running:
            if r.heartbeat_at is None:
                dead = r.started_at < now - timedelta(days=1)
                why = "it predates run heartbeats and started over a day ago"
            elif _owner_is_dead(r.owner):
                dead, why = True, f"its process ({r.owner}) no longer exists"
            else:
                dead = r.heartbeat_at < now - stale_after
                why = (f"its process ({r.owner}) stopped renewing it "
                       f"{int((now - r.heartbeat_at).total_seconds())} s ago")
            if dead and self.abandon_run(r.id, f"abandoned: {why}"):
                stale.append(int(r.id))
        return stale

    def insert_responses(self, rows: Sequence[dict[str, Any]],
                         features: Sequence[dict[str, Any] | None] | None = None,
                         feature_version: str | None = None) -> int:
        """Insert responses in one transaction; a row whose (run, probe version, sample) key
        is already stored is skipped, so a retried write never duplicates. ``features[i]``
        (when given) are stored for ``rows[i]`` in the same transaction, under
        ``feature_version``. Returns rows added.

        Every row is bounded first (``storage.bounds``: NUL and lone surrogates replaced, long
        strings cut, numbers clamped). Should the database still refuse the batch because of
        one row's values, the rows are stored one by one and a row the database refuses alone
        is stored as a ``malformed`` failure naming the error: one bad answer never takes the
        others with it. Connection errors are raised as StorageUnavailable for the caller to
        retry.
        """
        if not rows:
            return 0
        rows = [bound_response_row(r) for r in rows]
        if features is not None:
            features = [None if f is None else clean_json(f) for f in features]
        with database_errors():
            return self._insert_rows(rows, features, feature_version)

    def _insert_rows(self, rows: list[dict[str, Any]],
                     features: Sequence[dict[str, Any] | None] | None,
                     feature_version: str | None) -> int:
        """insert_responses on raw connections: a row-specific refusal is told apart here."""
        try:
            return self._insert_responses(rows, features, feature_version)
        except Exception as exc:
            if not _row_specific(exc):
                raise
        added = 0
        for i, r in enumerate(rows):
            one = None if features is None else [features[i]]
            try:
                added += self._insert_responses([r], one, feature_version)
            except Exception as exc:
                if not _row_specific(exc):
                    raise
                added += self._insert_responses([_unstorable(r, exc)], None, None)
        return added

    def _insert_responses(self, rows: Sequence[dict[str, Any]],
                          features: Sequence[dict[str, Any] | None] | None,
                          feature_version: str | None) -> int:
        stmt = insert(self.engine, Response).on_conflict_do_nothing(
            index_elements=["run_id", "probe_version_id", "sample_index"]).returning(
            Response.id, Response.run_id, Response.probe_version_id, Response.sample_index)
        now = utc_now()
        # every row gets every column: executemany needs one shape for successes and failures
        values = [{**_RESPONSE_DEFAULTS, "created_at": now, **r} for r in rows]
        with self.engine.begin() as conn:  # raw errors: insert_responses sorts them
            # rowcount is unreliable for executemany; RETURNING names exactly the rows added
            added = conn.execute(stmt, values).all()
            if features is not None and added:
                by_key = {(r["run_id"], r["probe_version_id"], r["sample_index"]): f
                          for r, f in zip(rows, features, strict=True)}
                feature_rows = [
                    {"response_id": a.id, "feature_set_version": feature_version,
                     "values": by_key[(a.run_id, a.probe_version_id, a.sample_index)],
                     "computed_at": now}
                    for a in added
                    if by_key.get((a.run_id, a.probe_version_id, a.sample_index)) is not None]
                if feature_rows:
                    conn.execute(insert(conn, ResponseFeatures), feature_rows)
            return len(added)

    def finish_run(self, run_id: int, *, note: str | None = None) -> RunSummary:
        """Count the run's stored responses, set its status and return its summary."""
        with self._write() as conn:
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
                status=status, ok_count=ok, failed_count=failed, finished_at=utc_now(),
                note=note))
        return self.run_summary(run_id)

    def run_summary(self, run_id: int) -> RunSummary:
        with database_errors(), Session(self.engine) as s:
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
        with self._read() as conn:
            ids = list(conn.execute(q).scalars())
        return [self.run_summary(i) for i in ids]

    def spend_since(self, target_id: int, since: datetime) -> float:
        """US dollars of the target's responses stored at or after ``since`` (0.0 if none).

        The daily budget asks this with the start of the UTC day. Responses without a cost
        (failures, targets without a price) count as nothing.
        """
        with self._read() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(Response.cost_usd), 0.0))
                .join(Run, Run.id == Response.run_id)
                .where(Run.target_id == target_id, Response.created_at >= since)).scalar_one()
        return float(total or 0.0)

    def responses(self, run_id: int) -> list[Response]:
        with database_errors(), Session(self.engine, expire_on_commit=False) as s:
            return list(s.scalars(select(Response).where(Response.run_id == run_id)
                                  .order_by(Response.probe_version_id, Response.sample_index)))

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
