"""Probe rounds, as every entry point runs them: `probe`, the daemon's slots, `compare`, the
demo and the confirmation round of a check.

A round runs on its own event loop (``asyncio.run``) unless the caller passes ``execute``: the
daemon passes one that runs it on a loop it can cancel when it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any

from drift_monitor.config import Config, TargetConfig
from drift_monitor.errors import DriftMonitorError
from drift_monitor.probes import Probe
from drift_monitor.runner import probe_round
from drift_monitor.storage.queries import Store
from drift_monitor.storage.run_queries import RunSummary

log = logging.getLogger(__name__)

Round = Callable[[], Coroutine[Any, Any, RunSummary]]
Execute = Callable[[Round], RunSummary]
# a confirmation round of these probe keys: its run id, or None when it could not run
ConfirmRound = Callable[[list[str]], int | None]


def _own_loop(factory: Round) -> RunSummary:
    return asyncio.run(factory())


def run_round(config: Config, target: TargetConfig, store: Store, probes: list[Probe], *,
              execute: Execute | None = None, **round_kwargs: Any) -> RunSummary:
    """One probe round of ``probes`` for ``target``, stored as it arrives; ``round_kwargs``
    go to runner.probe_round (``samples``, ``trigger``, ``scheduled_for``, ``progress``,
    ``on_call``). Raises what probe_round raises (ConfigError for a missing key,
    StorageError) and what ``execute`` raises (the daemon's RoundCancelled)."""
    def factory() -> Coroutine[Any, Any, RunSummary]:
        return probe_round(config, target, store, probes, **round_kwargs)

    return (execute or _own_loop)(factory)


def confirm_round(config: Config, target: TargetConfig, store: Store, probes: Iterable[Probe],
                  *, execute: Execute | None = None,
                  errors: tuple[type[BaseException], ...] = (DriftMonitorError,),
                  on_error: Callable[[BaseException], None] | None = None,
                  stopped: Callable[[], bool] | None = None,
                  **round_kwargs: Any) -> ConfirmRound:
    """A confirmation round for a check: it re-sends exactly the drifted probe versions that
    are still among ``probes``, and returns its run id, or None when none is left, when
    ``stopped()`` says so, when no call succeeded, or when the round raised one of ``errors``
    (passed to ``on_error``; by default logged as a warning)."""
    by_key = {str(p.key): p for p in probes}

    def failed(exc: BaseException) -> None:
        log.warning("confirmation round for %s failed: %s", target.name, exc)

    def run(probe_keys: list[str]) -> int | None:
        chosen = [by_key[k] for k in probe_keys if k in by_key]
        if not chosen or (stopped is not None and stopped()):
            return None
        try:
            summary = run_round(config, target, store, chosen, execute=execute,
                                trigger="confirmation", **round_kwargs)
        except errors as exc:
            (on_error or failed)(exc)
            return None
        return summary.id if summary.ok else None

    return run


def finish_interrupted(store: Store, target: str, note: str, *, slot: datetime | None = None,
                       trigger: str | None = None) -> int | None:
    """Finish the run an interrupted round left ``running`` (its stored responses are kept);
    returns its id, or None when there was none."""
    run_id = store.running_run(target, slot=slot, trigger=trigger)
    if run_id is not None:
        store.finish_run(run_id, note=note)
    return run_id
