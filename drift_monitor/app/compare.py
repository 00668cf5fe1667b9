"""``drift-monitor compare``, wired: which runs a comparison reads (recent ones that cover the
common probes, else a new round), analysed like a check would, as a
:class:`~drift_monitor.compare.report.CompareReport` (``compare.text`` and ``compare.html``
present it).

Both targets must answer the same probe versions (``suite/id@version``), or the pinned side's
answers could not be paired with the candidate's. A recent run is reused only when it answered
every common probe: a partial round of other suites would leave holes in the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from drift_monitor.app.checks import load_side
from drift_monitor.app.rounds import run_round
from drift_monitor.compare.report import (
    CompareReport,
    pass_rates,
    probe_diffs,
    refusal_rates,
    usage,
    verdicts,
)
from drift_monitor.config import Config, TargetConfig
from drift_monitor.detection.analysis import analyse
from drift_monitor.errors import CompareError
from drift_monitor.features import SPECS
from drift_monitor.probes import Probe, ProbeLibrary
from drift_monitor.storage.queries import Store

REUSE_HOURS = 24.0
REFUSAL_REPORT_POINTS = 0.05  # a refusal rate that moved this much is named in the summary


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
    target_id = store.upsert_target(target.name, target.provider, target.model)
    store.ensure_probe_versions(probes)
    if reuse_hours > 0:
        since = (now or datetime.now(UTC)) - timedelta(hours=reuse_hours)
        run_id = covering_run(store, target_id, {probe_key(p) for p in probes}, since,
                              min_samples=samples or 1)
        if run_id is not None:
            return SideRuns(target.name, [run_id], reused=True)
    summary = run_round(config, target, store, probes, samples=samples, trigger="compare",
                        **round_kwargs)
    if not summary.ok:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary.failures_by_kind.items()))
        raise CompareError(f"every call of target '{target.name}' failed (run {summary.id}: "
                           f"{kinds or 'no responses'}); nothing to compare")
    return SideRuns(target.name, [summary.id], reused=False)


def compare_targets(config: Config, store: Store, library: ProbeLibrary, pinned: str,
                    candidate: str, *, samples: int | None = None,
                    reuse_hours: float = REUSE_HOURS, now: datetime | None = None,
                    **round_kwargs: Any) -> CompareReport:
    """Compare target ``candidate`` with target ``pinned`` on the probes both run.

    Reuses each target's newest run of the last ``reuse_hours`` that answered every common
    probe, else runs a round of them now (``samples`` per probe). Raises ConfigError for an
    unknown target name, CompareError for the same target twice, no common probe or a round
    whose every call failed, and what probe_round raises.
    """
    pt, ct = config.target(pinned), config.target(candidate)
    probes = common_probes(library, pt, ct)
    keys = {probe_key(p) for p in probes}
    side_runs = [runs_for(config, t, store, probes, samples=samples, reuse_hours=reuse_hours,
                          now=now, **round_kwargs) for t in (pt, ct)]
    base = load_side(store, side_runs[0].run_ids).restricted(keys)
    cur = load_side(store, side_runs[1].run_ids).restricted(keys)
    # The candidate is a different model: the domain classifier would only say "different
    # text", which every comparison of two models is; the per-feature tests say how.
    analysis = analyse(base, cur, SPECS, classifier=False)
    rates = (pass_rates(base), pass_rates(cur))
    use = (usage([r for r in store.response_usage(side_runs[0].run_ids)
                  if f"{r['suite']}/{r['probe_id']}@{r['version']}" in keys], pt),
           usage([r for r in store.response_usage(side_runs[1].run_ids)
                  if f"{r['suite']}/{r['probe_id']}@{r['version']}" in keys], ct))
    fixes, breaks, changes, costs = verdicts(analysis.findings, rates, use)
    refusals = (refusal_rates(base), refusal_rates(cur))
    for suite in sorted(set(refusals[0]) & set(refusals[1])):
        rb, rc = refusals[0][suite][0], refusals[1][suite][0]
        # a refusal rate has no good direction by itself: refusing harm is right, refusing a
        # benign question is not; so it is reported, never called a fix or a break
        if abs(rc - rb) >= REFUSAL_REPORT_POINTS:
            changes.insert(0, f"tone: refuses {rc:.0%} of answers in suite {suite} "
                              f"(pinned: {rb:.0%})")
    notes = list(analysis.notes)
    if len(probes) < len(library.select(pt.suites)) or \
            len(probes) < len(library.select(ct.suites)):
        notes.append(f"only the {len(probes)} probes both targets run are compared")
    return CompareReport(
        pinned=pt.name, candidate=ct.name, pinned_model=pt.model, candidate_model=ct.model,
        probes=len(probes), pinned_runs=side_runs[0].run_ids,
        candidate_runs=side_runs[1].run_ids, pinned_reused=side_runs[0].reused,
        candidate_reused=side_runs[1].reused, findings=analysis.findings, pass_rates=rates,
        usage=use, probe_diffs=probe_diffs(base, cur),
        refusals=refusals, fixes=fixes, breaks=breaks,
        changes=changes, costs=costs, notes=notes)
