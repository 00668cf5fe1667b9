"""``drift-monitor compare``: a candidate target against a pinned one, on the same probes.

:func:`compare_targets` picks (or runs) the runs, analyses them like a check would, and returns
a :class:`~drift_monitor.compare.report.CompareReport`; ``text.render_text`` and
``html.render_html`` present it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drift_monitor.app.compare import REUSE_HOURS, common_probes, probe_key, runs_for
from drift_monitor.compare.report import (
    CompareReport,
    pass_rates,
    probe_diffs,
    refusal_rates,
    usage,
    verdicts,
)
from drift_monitor.config import Config
from drift_monitor.probes import ProbeLibrary
from drift_monitor.storage.queries import Store

__all__ = ["CompareReport", "compare_targets"]

REFUSAL_REPORT_POINTS = 0.05  # a refusal rate that moved this much is named in the summary


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
    from drift_monitor.detection.analysis import analyse
    from drift_monitor.detection.check import load_side
    from drift_monitor.features import SPECS

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
