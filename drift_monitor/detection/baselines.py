"""Baselines: pinned, versioned, replaced only on purpose.

A target's first ``baseline.min_runs`` finished runs become its baseline automatically;
``baseline set`` pins the last N finished runs; ``baseline accept`` pins recent runs after a
reviewed change. The previous baseline is kept as history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drift_monitor.errors import BaselineError
from drift_monitor.storage.queries import Store
from drift_monitor.storage.transaction import Transaction


@dataclass(frozen=True)
class PinnedBaseline:
    id: int
    run_ids: list[int]
    created: bool = False


def ensure_baseline(store: Store, target_id: int, target: str, min_runs: int) -> PinnedBaseline:
    """The active baseline, creating it from the first ``min_runs`` finished runs if none.

    Raises BaselineError when there are not yet enough runs.
    """
    active = store.active_baseline(target_id)
    if active is not None:
        return PinnedBaseline(active[0], active[1])
    runs = store.finished_runs(target_id, limit=min_runs)
    if len(runs) < min_runs:
        raise BaselineError(
            f"target '{target}' has no baseline yet: it needs {min_runs} finished runs and has "
            f"{len(runs)}; run 'drift-monitor probe --target {target}' "
            f"{min_runs - len(runs)} more time(s), or pin what exists with "
            f"'drift-monitor baseline set --target {target} --runs {max(1, len(runs))}'")
    bid = store.pin_baseline(target_id, runs, reason="automatic",
                             note=f"first {min_runs} finished runs")
    return PinnedBaseline(bid, runs, created=True)


def pin_latest(store: Store, target_id: int, target: str, runs: int, *, reason: str,
               note: str | None = None,
               same_transaction: Callable[[Transaction, int, list[int]], None] | None = None,
               ) -> PinnedBaseline:
    """Pin the last ``runs`` finished runs. Raises BaselineError if there are fewer.

    ``same_transaction(tx, baseline_id, run_ids)`` runs inside the pinning transaction
    (``baseline accept`` closes the target's incidents there).
    """
    latest = store.finished_runs(target_id, newest_first=True, limit=runs)
    if len(latest) < runs:
        raise BaselineError(f"target '{target}' has {len(latest)} finished run(s); "
                            f"cannot pin {runs}")
    ids = sorted(latest)
    with store.transaction() as tx:
        bid = tx.pin_baseline(target_id, ids, reason=reason, note=note)
        if same_transaction is not None:
            same_transaction(tx, bid, ids)
    return PinnedBaseline(bid, ids, created=True)
