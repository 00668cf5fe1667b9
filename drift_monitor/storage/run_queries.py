"""Queries for runs and their responses (a part of Store, kept in its own module): creating,
heartbeating, finishing and sweeping runs, storing answers (bounded, one bad row never taking
the batch with it) and reading them back."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from drift_monitor.clock import utc_now
from drift_monitor.storage.base import StoreBase
from drift_monitor.storage.bounds import bound_response_row, clean_json, cut
from drift_monitor.storage.sql import database_errors, insert
from drift_monitor.storage.tables import Response, ResponseFeatures, Run, Target

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



class RunQueries(StoreBase):
    """Mixed into Store."""

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

