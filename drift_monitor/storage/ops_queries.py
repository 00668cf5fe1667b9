"""Queries for running the service (a part of Store, kept in its own module): recent round
outcomes for the outage rule, acting on failed notifications, and retention.

Retention deletes in small batches (each its own short transaction), so a prune never holds a
long lock on a busy PostgreSQL, and never touches a run that belongs to any baseline (active or
historical: ``baseline show`` lists history, and ``baseline set`` may pin it again).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from drift_monitor.storage.base import StoreBase
from drift_monitor.storage.rows import NotificationRow, row_of
from drift_monitor.storage.tables import (
    BaselineRun,
    Check,
    Notification,
    Response,
    ResponseFeatures,
    Run,
    Target,
)

PRUNE_BATCH = 500


@dataclass(frozen=True)
class PruneReport:
    responses: int  # responses deleted (or that would be, with dry_run)
    runs: int  # runs deleted with their remaining responses
    kept_baseline_runs: int  # old runs kept because a baseline holds them
    dry_run: bool

    def to_json(self) -> dict[str, Any]:
        return {"responses": self.responses, "runs": self.runs,
                "kept_baseline_runs": self.kept_baseline_runs, "dry_run": self.dry_run}


class OpsQueries(StoreBase):
    """Mixed into Store."""

    # --- round outcomes (the outage rule) -------------------------------------------------

    def recent_round_outcomes(self, target_id: int, limit: int) -> list[dict[str, Any]]:
        """The target's newest finished rounds (not confirmation or compare rounds), newest
        first: run id, calls sent and failed (budget refusals excluded), failures by kind, and
        the most common failure's HTTP status; the newest round with failures also carries the
        stored (redacted) provider message of that failure. Three queries whatever ``limit``
        is: every check asks this first."""
        runs = (select(Run.id).where(Run.target_id == target_id, Run.status != "running",
                                     Run.trigger.not_in(("confirmation", "compare")))
                .order_by(Run.id.desc()).limit(limit))
        with self._read() as conn:
            run_ids = list(conn.execute(runs).scalars())
            if not run_ids:
                return []
            rows = conn.execute(
                select(Response.run_id, Response.ok, Response.error_kind,
                       Response.http_status, func.count())
                .where(Response.run_id.in_(run_ids))
                .group_by(Response.run_id, Response.ok, Response.error_kind,
                          Response.http_status)).all()
            by_run: dict[int, list[Any]] = {r: [] for r in run_ids}
            for row in rows:
                by_run[row[0]].append(row[1:])
            out = []
            for run_id in run_ids:
                groups = by_run[run_id]
                sent = sum(n for ok, kind, _, n in groups if ok or kind != "budget")
                failures = Counter({(kind, status): n for ok, kind, status, n in groups
                                    if not ok and kind != "budget"})
                kinds: Counter[str] = Counter()
                for (kind, _), n in failures.items():
                    kinds[str(kind)] += n
                top = failures.most_common(1)
                kind, status = top[0][0] if top else (None, None)
                out.append({"run_id": run_id, "sent": sent, "failed": sum(failures.values()),
                            "kinds": dict(kinds), "error_kind": kind, "http_status": status,
                            "message": None})
            newest = next((o for o in out if o["error_kind"] is not None), None)
            if newest is not None:
                # a call that was actually attempted says what the provider answered
                newest["message"] = conn.execute(
                    select(Response.error_detail)
                    .where(Response.run_id == newest["run_id"],
                           Response.error_kind == newest["error_kind"], Response.attempts > 0)
                    .order_by(Response.id).limit(1)).scalar_one_or_none()
        return out

    # --- notifications that failed permanently --------------------------------------------

    def notification(self, notification_id: int) -> NotificationRow | None:
        q = (select(Notification, Target.name.label("target"))
             .outerjoin(Target, Target.id == Notification.target_id)
             .where(Notification.id == notification_id))
        with self._read() as conn:
            row = conn.execute(q).first()
            return row_of(NotificationRow, row) if row else None

    def retry_notifications(self, ids: list[int] | None, now: datetime) -> list[int]:
        """Put failed notifications (``ids``, or every failed one when None) back to pending,
        due now; returns the ids that were failed and now are pending."""
        cond = [Notification.status == "failed"]
        if ids is not None:
            cond.append(Notification.id.in_(ids))
        with self._write() as conn:
            found = list(conn.execute(select(Notification.id).where(*cond)
                                      .order_by(Notification.id)).scalars())
            if found:
                conn.execute(update(Notification).where(Notification.id.in_(found),
                                                        Notification.status == "failed")
                             .values(status="pending", next_attempt_at=now,
                                     claimed_until=None))
            return found

    def drop_notification(self, notification_id: int, now: datetime) -> bool:
        """Mark a failed or pending notification ``dropped`` (never sent, kept for the
        record); False when it does not exist or was already delivered or dropped."""
        with self._write() as conn:
            return conn.execute(
                update(Notification)
                .where(Notification.id == notification_id,
                       Notification.status.in_(("failed", "pending")))
                .values(status="dropped", claimed_until=None, last_attempt_at=now,
                        last_error=Notification.last_error)).rowcount == 1

    def failed_notifications_between(self, start: datetime,
                                     end: datetime) -> list[dict[str, Any]]:
        """Notifications that failed permanently with a last attempt in [start, end)."""
        q = (select(Notification.id, Notification.kind, Notification.reason,
                    Notification.channel, Notification.last_error,
                    Notification.last_attempt_at, Target.name.label("target"))
             .outerjoin(Target, Target.id == Notification.target_id)
             .where(Notification.status == "failed", Notification.last_attempt_at >= start,
                    Notification.last_attempt_at < end)
             .order_by(Notification.id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # --- retention ------------------------------------------------------------------------

    def prune(self, *, responses_before: datetime | None, runs_before: datetime | None,
              dry_run: bool = False, batch: int = PRUNE_BATCH,
              max_batches: int | None = None) -> PruneReport:
        """Delete responses stored before ``responses_before`` and runs started before
        ``runs_before`` (with their responses), never of a run a baseline holds; checks that
        name a deleted run as confirmation lose that link. With ``dry_run`` only counts.
        ``max_batches`` bounds the work of one call (the daemon prunes a little at a time)."""
        pinned = select(BaselineRun.run_id)
        n_resp = n_runs = 0
        batches = 0

        def more() -> bool:
            return max_batches is None or batches < max_batches

        with self._read() as conn:
            kept = 0
            if runs_before is not None:
                kept = int(conn.execute(
                    select(func.count()).select_from(Run)
                    .where(Run.started_at < runs_before, Run.status != "running",
                           Run.id.in_(pinned))).scalar_one())
            if dry_run:
                if responses_before is not None:
                    n_resp = int(conn.execute(
                        select(func.count()).select_from(Response)
                        .where(Response.created_at < responses_before,
                               Response.run_id.not_in(pinned))).scalar_one())
                if runs_before is not None:
                    old = and_(Run.started_at < runs_before, Run.status != "running",
                               Run.id.not_in(pinned))
                    n_runs = int(conn.execute(select(func.count()).select_from(Run)
                                              .where(old)).scalar_one())
                    if responses_before is None:
                        n_resp += int(conn.execute(
                            select(func.count()).select_from(Response).join(
                                Run, Run.id == Response.run_id).where(old)).scalar_one())
                return PruneReport(n_resp, n_runs, kept, True)
        if responses_before is not None:
            while more():
                with self._write() as conn:
                    ids = list(conn.execute(
                        select(Response.id).where(Response.created_at < responses_before,
                                                  Response.run_id.not_in(pinned))
                        .order_by(Response.id).limit(batch)).scalars())
                    if not ids:
                        break
                    conn.execute(delete(ResponseFeatures)
                                 .where(ResponseFeatures.response_id.in_(ids)))
                    conn.execute(delete(Response).where(Response.id.in_(ids)))
                n_resp += len(ids)
                batches += 1
        if runs_before is not None:
            while more():
                with self._write() as conn:
                    ids = list(conn.execute(
                        select(Run.id).where(Run.started_at < runs_before,
                                             Run.status != "running", Run.id.not_in(pinned))
                        .order_by(Run.id).limit(batch)).scalars())
                    if not ids:
                        break
                    conn.execute(delete(ResponseFeatures).where(
                        ResponseFeatures.response_id.in_(
                            select(Response.id).where(Response.run_id.in_(ids)))))
                    n_resp += conn.execute(delete(Response)
                                           .where(Response.run_id.in_(ids))).rowcount or 0
                    conn.execute(update(Check).where(Check.confirmation_run_id.in_(ids))
                                 .values(confirmation_run_id=None))
                    conn.execute(delete(Run).where(Run.id.in_(ids)))
                n_runs += len(ids)
                batches += 1
        return PruneReport(n_resp, n_runs, kept, False)
