"""Retention: ``retention: {responses: 90d, runs: 400d}`` applied by ``db prune`` and, a little
at a time, by the daemon. A run a baseline holds (active or historical) is never pruned, nor are
its responses; runs still ``running`` are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drift_monitor.config import Config, parse_duration
from drift_monitor.storage.ops_queries import PruneReport
from drift_monitor.storage.queries import Store

# the daemon's share per pass: PRUNE_BATCH rows a transaction, at most this many transactions
DAEMON_MAX_BATCHES = 50
DAEMON_EVERY_S = 60.0


def cutoffs(config: Config, now: datetime | None = None,
            ) -> tuple[datetime | None, datetime | None]:
    """(responses stored before this go, runs started before this go); None keeps them."""
    now = now or datetime.now(UTC)
    r = config.settings.retention
    return (now - timedelta(seconds=parse_duration(r.responses)) if r.responses else None,
            now - timedelta(seconds=parse_duration(r.runs)) if r.runs else None)


def prune(config: Config, store: Store, *, dry_run: bool = False,
          max_batches: int | None = None, now: datetime | None = None) -> PruneReport:
    responses_before, runs_before = cutoffs(config, now)
    if responses_before is None and runs_before is None:
        return PruneReport(0, 0, 0, dry_run)
    return store.prune(responses_before=responses_before, runs_before=runs_before,
                       dry_run=dry_run, max_batches=max_batches)
