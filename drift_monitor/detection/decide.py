"""One check's decision: analyse the window, add it to the evidence, confirm, and say what pages.

Pure: sides and evidence in, findings and evidence out. ``app.checks.run_check`` (with the
database and the provider) and ``benchmarks/detection.py`` (with recordings) both call
:func:`decide`, so the benchmarks measure exactly what a check does.

What pages: a test whose sequential evidence alarms (see sequential.py). The per-check
candidates (significant after Benjamini-Hochberg, above the minimum effect and the A/A floor)
are still reported, unconfirmed. A confirmation round is worth its calls when a candidate's key
could alarm with one more observation, or when a key's evidence is already halfway to the bar
(a partial rollout builds up below the per-check bar; under no change this is rare). The round
re-sends every probe of those suites (not only the probes that moved, which would compare a
selected part of the baseline) and is observed as one more window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drift_monitor.detection import sequential
from drift_monitor.detection.analysis import Analysis, analyse
from drift_monitor.detection.feature_tests import Comparison, suite_of
from drift_monitor.detection.findings import (
    Finding,
    describe,
    severity_for,
)
from drift_monitor.detection.samples import Side

PAGE_SEVERITIES = ("warning", "critical")

# confirm(probe keys) -> the confirmation round's side (None: it could not run)
Confirm = Callable[[list[str]], Side | None]


@dataclass
class Decision:
    findings: list[Finding]
    evidence: sequential.Evidence
    analysis: Analysis
    budget: sequential.Budget
    confirmation: Side | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return any(f.confirmed and f.severity in PAGE_SEVERITIES for f in self.findings)


def decide(base: Side, cur: Side, evidence: sequential.Evidence, specs: dict[str, Any], *,
           false_pages_per_year: float, interval_seconds: float,
           confirm: Confirm | None = None, confirm_required: bool = True,
           classifier: bool = True) -> Decision:
    """Compare ``cur`` with ``base``, carry the evidence, and decide what pages."""
    analysis = analyse(base, cur, specs, classifier=classifier)
    n_keys = sum(len(sequential.directions(t)) for t in analysis.tests)
    rho = max((sequential.baseline_share(t) for t in analysis.tests), default=0.25)
    budget = sequential.budget_for(false_pages_per_year, interval_seconds, n_keys, rho=rho)
    min_obs = 2 if confirm_required else 1
    evidence, alarms = sequential.observe(evidence, analysis.tests, budget,
                                          noise=analysis.noise, min_observations=min_obs)
    by_key: dict[str, Comparison] = {}
    for t in analysis.tests:
        for d in sequential.directions(t):
            by_key[sequential.test_key(t, d)] = t
    candidates = [f for f in analysis.findings
                  if f.dimension != "metadata" and f.severity in PAGE_SEVERITIES]
    confirmation: Side | None = None
    confirmed_by_round: set[str] = set()
    # worth a confirmation round: a candidate that could alarm with one more observation, or
    # evidence already halfway to the bar (a partial rollout builds up below the per-check bar)
    suites = {f.suite for f in candidates if f.suite and _key_of(f) not in alarms
              and sequential.near_alarm(evidence, budget, _key_of(f))}
    suites |= {key.split("|")[2] for key, e in evidence.keys.items()
               if not e.alarmed and e.s >= budget.h / 2 and key.split("|")[2]}
    if suites and confirm is not None:
        probes = sorted({p for p in {s.probe for s in cur.samples} if suite_of(p) in suites})
        confirmation = confirm(probes)
        if confirmation is not None and confirmation.ok:
            keys = {s.probe for s in confirmation.samples}
            again = analyse(base.restricted(keys), confirmation, specs, classifier=classifier)
            before = set(alarms)
            evidence, alarms = sequential.observe(evidence, again.tests, budget,
                                                  noise=analysis.noise,
                                                  min_observations=min_obs,
                                                  count_check=False)
            confirmed_by_round = set(alarms) - before
            for t in again.tests:
                for d in sequential.directions(t):
                    by_key.setdefault(sequential.test_key(t, d), t)
    findings = _findings(analysis, alarms, by_key, confirmed_by_round, evidence)
    return Decision(findings=findings, evidence=evidence, analysis=analysis, budget=budget,
                    confirmation=confirmation, notes=list(analysis.notes))


def _key_of(f: Finding) -> str:
    direction = 1 if f.direction >= 0 else -1
    return "|".join([f.dimension, f.metric, f.suite or "", f.probe or "",
                     "+" if direction > 0 else "-"])


def _findings(analysis: Analysis, alarms: dict[str, sequential.Alarm],
              by_key: dict[str, Comparison], by_round: set[str],
              evidence: sequential.Evidence) -> list[Finding]:
    out: list[Finding] = []
    per_check = {(f.dimension, f.metric, f.suite, f.probe): f for f in analysis.findings}
    alarmed_suites: set[tuple[str, str, str | None]] = set()
    for key in alarms:
        t = by_key.get(key)
        if t is None:
            continue
        if t.probe is None:
            alarmed_suites.add((t.dimension, t.metric, t.suite))
    for key, alarm in sorted(alarms.items()):
        t = by_key.get(key)
        if t is None:
            continue
        # a probe's alarm only adds news where its suite as a whole did not alarm
        if t.probe is not None and (t.dimension, t.metric, t.suite) in alarmed_suites:
            continue
        first = per_check.get((t.dimension, t.metric, t.suite, t.probe))
        out.append(_alarm_finding(t, alarm, key in by_round, analysis.noise,
                                  first.q_value if first is not None else None))
    shown = {(f.dimension, f.metric, f.suite, f.probe) for f in out}
    for f in analysis.findings:
        if f.dimension == "metadata":
            out.append(f.with_(confirmed=True, confirmed_by="not_required"))
        elif (f.dimension, f.metric, f.suite, f.probe) not in shown:
            e = evidence.keys.get(_key_of(f))
            details = {**f.details, "evidence": round(e.s, 3) if e else 0.0}
            out.append(f.with_(confirmed=False, details=details))
    out.sort(key=lambda f: (-["info", "warning", "critical"].index(f.severity),
                            f.dimension, f.metric, f.probe or ""))
    return out


def _alarm_finding(t: Comparison, alarm: sequential.Alarm, by_round: bool,
                   noise: dict[Any, float], q_value: float | None) -> Finding:
    threshold = max(t.min_effect, noise.get(t.key, 0.0))
    if t.kind == "classifier":
        summary = (f"a classifier tells current answers from baseline ones in suite {t.suite} "
                   f"(AUC {t.current:.2f}, chance is 0.50); {t.description}")
    else:
        summary = describe(t.metric, t.kind, t.baseline, t.current, t.effect, t.relative,
                           t.description, t.probe, t.suite)
    share = _changed_share(t)
    if share is not None:
        summary += f"; about {share:.0%} of answers changed"
    if alarm.observations > 2:
        summary += f" (evidence built over {alarm.observations} windows)"
    severity = severity_for(alarm.mean_effect, threshold)
    details = {**t.details, "threshold": threshold, "evidence": round(alarm.evidence, 3),
               "evidence_threshold": round(alarm.threshold, 3),
               "observations": alarm.observations, "pooled_z": round(alarm.pooled_z, 3),
               "mean_effect": alarm.mean_effect}
    if share is not None:
        details["changed_share"] = share
    return Finding(dimension=t.dimension, metric=t.metric, probe=t.probe, baseline=t.baseline,
                   current=t.current, effect=t.effect, p_value=t.p_value, q_value=q_value,
                   severity=severity, summary=summary, examples=t.examples[:2],
                   direction=alarm.direction, confirmed=True,
                   confirmed_by="confirmation_round" if by_round else "sequential",
                   drifted_probes=t.drifted_probes, details=details, suite=t.suite)


def _changed_share(t: Comparison) -> float | None:
    """For a rise in answer mismatch: the share of answers that a new model answering
    differently would explain, (current - baseline) / (1 - baseline); said only when it is
    clearly a part (a partial rollout or a sparse change), not all."""
    if t.kind != "categorical" or t.effect <= 0:
        return None
    base = float(t.baseline)
    if base >= 1:
        return None
    share = float(np.clip(t.effect / (1 - base), 0.0, 1.0))
    return share if share < 0.8 else None
