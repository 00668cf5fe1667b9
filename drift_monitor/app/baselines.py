"""Baselines: pinned, versioned, replaced only on purpose.

A target's first ``baseline.min_runs`` finished runs become its baseline automatically;
``baseline set`` pins the last N finished runs (:func:`set_baseline`); ``baseline accept``
pins recent runs after a reviewed change and closes the target's incidents as accepted
(:func:`accept_baseline`). The previous baseline is kept as history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drift_monitor.alerting.incidents import Decision, accept_hook
from drift_monitor.alerting.operations import default_actor
from drift_monitor.clock import utc_now
from drift_monitor.config import Config
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


def _pin(config: Config, store: Store, target: str, runs: int, *, reason: str,
         note: str | None = None, actor: str | None = None,
         hook: Callable[[int], Callable[[Transaction, int, list[int]], None]] | None = None,
         ) -> PinnedBaseline:
    """Pin the target's last ``runs`` finished runs; ``hook(target_id)`` gives what runs in the
    same transaction, where who pinned it (``actor`` or $USER) is recorded too."""
    t = config.target(target)
    who = default_actor(actor)
    tid = store.upsert_target(t.name, t.provider, t.model)
    inner = hook(tid) if hook else None

    def same_transaction(tx: Transaction, baseline_id: int, run_ids: list[int]) -> None:
        tx.record_action({"at": utc_now(), "actor": who, "action": f"baseline_{reason}",
                          "target": t.name, "baseline_id": baseline_id,
                          "note": f"runs {run_ids}"})
        if inner is not None:
            inner(tx, baseline_id, run_ids)

    return pin_latest(store, tid, t.name, runs, reason=reason, note=note,
                      same_transaction=same_transaction)


def set_baseline(config: Config, store: Store, target: str, runs: int | None = None, *,
                 actor: str | None = None) -> PinnedBaseline:
    """Pin the last ``runs`` (default ``baseline.min_runs``) finished runs as the target's
    baseline, recording who did. Raises ConfigError for an unknown target and BaselineError
    when it has fewer finished runs."""
    return _pin(config, store, target, runs or config.settings.baseline.min_runs,
                reason="set", actor=actor)


def accept_baseline(config: Config, store: Store, target: str, runs: int | None = None, *,
                    actor: str | None = None,
                    decisions: list[Decision] | None = None) -> PinnedBaseline:
    """Accept the new behaviour: pin the last ``runs`` (default ``detection.window_runs``)
    finished runs; the target's open incidents close as accepted in the same transaction (their
    decisions are appended to ``decisions``). Raises like :func:`set_baseline`."""
    return _pin(config, store, target, runs or config.settings.detection.window_runs,
                reason="accept", note="accepted after review", actor=actor,
                hook=lambda tid: accept_hook(config, store, target, tid, decisions=decisions))
