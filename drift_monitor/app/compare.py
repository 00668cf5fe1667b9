"""Which runs a comparison reads: recent ones that cover the common probes, else a new round.

Both targets must answer the same probe versions (``suite/id@version``), or the pinned side's
answers could not be paired with the candidate's. A recent run is reused only when it answered
every common probe: a partial round of other suites would leave holes in the comparison.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from drift_monitor.config import Config, TargetConfig
from drift_monitor.errors import CompareError
from drift_monitor.probes import Probe, ProbeLibrary
from drift_monitor.storage.queries import Store

REUSE_HOURS = 24.0


def probe_key(p: Probe) -> str:
    return f"{p.suite}/{p.id}@{p.version}"


def common_probes(library: ProbeLibrary, pinned: TargetConfig,
                  candidate: TargetConfig) -> list[Probe]:
    """The probes both targets run, in the pinned target's order.

    Raises CompareError when the two are the same target or share no probe.
    """
    if pinned.name == candidate.name:
        raise CompareError(f"--target and --candidate are both '{pinned.name}': compare two "
                           "different targets")
    theirs = {probe_key(p) for p in library.select(candidate.suites)}
    probes = [p for p in library.select(pinned.suites) if probe_key(p) in theirs]
    if not probes:
        raise CompareError(f"targets '{pinned.name}' (suites {', '.join(pinned.suites)}) and "
                           f"'{candidate.name}' (suites {', '.join(candidate.suites)}) have no "
                           "probe in common: give them at least one common suite")
    return probes


@dataclass(frozen=True)
class SideRuns:
    """The runs read for one target, and whether they were reused or run now."""

    target: str
    run_ids: list[int]
    reused: bool


def covering_run(store: Store, target_id: int, keys: set[str], since: datetime, *,
                 min_samples: int = 1) -> int | None:
    """The newest finished run since ``since`` that answered every probe key at least
    ``min_samples`` times, or None."""
    for run_id in store.runs_since(target_id, since):
        answered: dict[str, int] = {}
        for r in store.response_usage([run_id]):
            if r["ok"]:
                key = f"{r['suite']}/{r['probe_id']}@{r['version']}"
                answered[key] = answered.get(key, 0) + 1
        if all(answered.get(k, 0) >= min_samples for k in keys):
            return run_id
    return None


def runs_for(config: Config, target: TargetConfig, store: Store, probes: list[Probe], *,
             samples: int | None = None, reuse_hours: float = REUSE_HOURS,
             now: datetime | None = None, **round_kwargs: Any) -> SideRuns:
    """A recent run of ``target`` covering ``probes`` (within ``reuse_hours``; 0 never reuses;
    with ``samples``, only a run that answered each probe that often), else a new probe round
    of exactly those probes. Raises what probe_round raises (ConfigError
    for a missing key, StorageError) and CompareError when the new round failed entirely."""
    from drift_monitor.runner import probe_round

    target_id = store.upsert_target(target.name, target.provider, target.model)
    store.ensure_probe_versions(probes)
    if reuse_hours > 0:
        since = (now or datetime.now(UTC)) - timedelta(hours=reuse_hours)
        run_id = covering_run(store, target_id, {probe_key(p) for p in probes}, since,
                              min_samples=samples or 1)
        if run_id is not None:
            return SideRuns(target.name, [run_id], reused=True)
    summary = asyncio.run(probe_round(config, target, store, probes, samples=samples,
                                      trigger="compare", **round_kwargs))
    if not summary.ok:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.failures_by_kind.items()))
        raise CompareError(f"every call of target '{target.name}' failed (run {summary.id}: "
                           f"{kinds or 'no responses'}); nothing to compare")
    return SideRuns(target.name, [summary.id], reused=False)
