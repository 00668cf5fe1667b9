"""Read-only queries for the weekly digest (a part of Store, kept in its own module)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from drift_monitor.storage.base import StoreBase
from drift_monitor.storage.tables import Check, FindingRow, Response, Run


class DigestQueries(StoreBase):
    """Mixed into Store."""

    def runs_between(self, target_id: int, start: datetime,
                     end: datetime) -> list[dict[str, Any]]:
        """The target's runs started in [start, end), oldest first."""
        q = (select(Run.id, Run.status, Run.trigger, Run.started_at)
             .where(Run.target_id == target_id, Run.started_at >= start, Run.started_at < end)
             .order_by(Run.id))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def first_run_at(self, target_id: int) -> datetime | None:
        with self._read() as conn:
            return conn.execute(select(Run.started_at).where(Run.target_id == target_id)
                                .order_by(Run.id).limit(1)).scalar_one_or_none()

    def response_stats(self, run_ids: list[int]) -> list[dict[str, Any]]:
        """Per response of the runs: ok, latency, tokens, cost and the model string."""
        if not run_ids:
            return []
        q = (select(Response.ok, Response.latency_ms, Response.input_tokens,
                    Response.output_tokens, Response.cost_usd, Response.model_returned)
             .where(Response.run_id.in_(run_ids)))
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def checks_between(self, target_id: int, start: datetime,
                       end: datetime) -> list[dict[str, Any]]:
        """The target's checks in [start, end), oldest first, each with its findings'
        dimension, severity, confirmation and effect."""
        with self._read() as conn:
            checks = [dict(r._mapping) for r in conn.execute(
                select(Check.id, Check.created_at, Check.status, Check.drift)
                .where(Check.target_id == target_id, Check.created_at >= start,
                       Check.created_at < end).order_by(Check.id))]
            if not checks:
                return []
            by_check: dict[int, list[dict[str, Any]]] = {c["id"]: [] for c in checks}
            rows = conn.execute(select(FindingRow.check_id, FindingRow.dimension,
                                       FindingRow.metric, FindingRow.severity,
                                       FindingRow.confirmed, FindingRow.effect)
                                .where(FindingRow.check_id.in_(list(by_check))))
            for r in rows:
                by_check[r.check_id].append(dict(r._mapping))
        return [{**c, "findings": by_check[c["id"]]} for c in checks]
