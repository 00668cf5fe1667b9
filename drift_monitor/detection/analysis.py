"""One comparison of a window with a baseline, from responses to findings. No database here.

Order of work: every test (features per suite and per probe, operational, the domain
classifier) -> Benjamini-Hochberg over all p-values -> keep what is significant AND larger than
both the minimum effect and the baseline's own A/A noise -> severities and sentences. Metadata
changes (a new model string or fingerprint) are findings by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drift_monitor.detection import stats
from drift_monitor.detection.domain import domain_classifier
from drift_monitor.detection.feature_tests import (
    ALPHA,
    Comparison,
    aa_noise,
    feature_tests,
    suite_of,
    with_presence,
)
from drift_monitor.detection.findings import (
    MIN_EFFECT_AUC,
    Finding,
    describe,
    severity_for,
)
from drift_monitor.detection.operational import metadata_changes, operational_tests
from drift_monitor.detection.samples import Side


@dataclass
class Analysis:
    findings: list[Finding]
    tests_run: int
    model_string_changed: bool
    notes: list[str] = field(default_factory=list)
    tests: list[Comparison] = field(default_factory=list)  # every test run, with its p-value
    noise: dict[Any, float] = field(default_factory=dict)  # A/A floors per suite-level key


def tarone(tests: list[Comparison], alpha: float) -> list[Comparison]:
    """Keep only tests that could reach significance: the smallest K with at most K tests whose
    minimum achievable p-value is <= alpha / K (Tarone 1990). Untestable ones (3 vs 3 samples,
    constant values) would only dilute Benjamini-Hochberg."""
    import bisect

    min_ps = sorted(t.min_p for t in tests)
    k = 1
    while k < len(min_ps) and bisect.bisect_right(min_ps, alpha / k) > k:
        k += 1
    return [t for t in tests if t.min_p <= alpha / k]


SUITE_WEIGHT = 0.9  # share of the false-discovery budget for suite-level tests


def weighted_bh(tests: list[Comparison]) -> list[float]:
    """Benjamini-Hochberg over every test of a check, weighted (Genovese, Roeder and
    Wasserman 2006): suite-level tests share 90% of the weight and per-probe tests 10%, so a
    check with thousands of per-probe tests keeps the power of its few suite-level ones.
    Weights average one, which keeps the false discovery rate at alpha."""
    m = len(tests)
    n_probe = sum(t.probe is not None for t in tests)
    n_suite = m - n_probe
    if n_probe == 0 or n_suite == 0:
        weights = [1.0] * m
    else:
        weights = [SUITE_WEIGHT * m / n_suite if t.probe is None
                   else (1 - SUITE_WEIGHT) * m / n_probe for t in tests]
    adjusted = [min(1.0, float(t.p_value or 1.0) / w) for t, w in zip(tests, weights,
                                                                        strict=True)]
    return [float(q) for q in stats.benjamini_hochberg(adjusted)]


def _classifier_test(base: Side, cur: Side, suite: str) -> Comparison | None:
    result = domain_classifier(base, cur)
    if result is None:
        return None
    more = ", ".join(f"'{t}'" for t in result.more_now[:4]) or "none"
    less = ", ".join(f"'{t}'" for t in result.less_now[:4]) or "none"
    return Comparison(dimension="answers", metric="text_classifier_auc", feature="text",
                kind="classifier", probe=None, baseline=0.5, current=result.auc,
                effect=result.auc - 0.5, p_value=result.p_value, min_effect=MIN_EFFECT_AUC,
                description=f"more frequent now: {more}; less frequent: {less}", suite=suite,
                up_only=True, n_base=result.n_base, n_cur=result.n_cur,
                details={"more_now": result.more_now, "less_now": result.less_now,
                         "responses": [result.n_base, result.n_cur]})


def _to_finding(t: Comparison, q: float | None, threshold: float) -> Finding:
    if t.kind == "classifier":
        summary = (f"a classifier tells current answers from baseline ones in suite {t.suite} "
                   f"(AUC {t.current:.2f}, chance is 0.50); {t.description}")
        severity = "critical" if t.current >= 0.85 else "warning"
    else:
        summary = describe(t.metric, t.kind, t.baseline, t.current, t.effect, t.relative,
                           t.description, t.probe, t.suite)
        severity = severity_for(t.effect, threshold)
    return Finding(dimension=t.dimension, metric=t.metric, probe=t.probe, baseline=t.baseline,
                   current=t.current, effect=t.effect, p_value=t.p_value, q_value=q,
                   severity=severity, summary=summary, examples=t.examples[:2],
                   direction=int(np.sign(t.effect)), drifted_probes=t.drifted_probes,
                   details={**t.details, "threshold": threshold}, suite=t.suite)


def analyse(base: Side, cur: Side, specs: dict[str, Any], *, alpha: float = ALPHA,
            classifier: bool = True) -> Analysis:
    """Compare ``cur`` with ``base``. Raises nothing for thin data: it finds less."""
    notes: list[str] = []
    specs = with_presence(specs)
    tests = feature_tests(base, cur, specs, alpha=alpha) + operational_tests(base, cur)
    if classifier:
        common = set(base.by_probe()) & set(cur.by_probe())
        for suite in sorted({suite_of(p) for p in common}):
            keys = {p for p in common if suite_of(p) == suite}
            ct = _classifier_test(base.restricted(keys), cur.restricted(keys), suite)
            if ct is not None:
                tests.append(ct)
    tested = tarone([t for t in tests if t.p_value is not None or t.lazy_p], alpha)
    for t in tested:
        if t.p_value is None and t.lazy_p is not None:
            # a per-probe test whose effect is below the minimum can never become a finding;
            # p = 1 is a valid (conservative) p-value for it and saves computing the real one
            t.p_value = t.lazy_p() if abs(t.effect) >= t.min_effect else 1.0
    qs = weighted_bh(tested)
    noise = aa_noise(base, specs)
    findings: list[Finding] = []
    suite_metrics: set[tuple[str, str, str | None]] = set()
    candidates = []
    for t, q in zip(tested, qs, strict=True):
        threshold = max(t.min_effect, noise.get(t.key, 0.0))
        if q <= alpha and abs(t.effect) >= threshold:
            candidates.append((t, float(q), threshold))
            if t.probe is None:
                suite_metrics.add((t.dimension, t.metric, t.suite))
    for t, q, threshold in candidates:
        # a probe's finding only adds news where its suite as a whole did not move
        if t.probe is not None and (t.dimension, t.metric, t.suite) in suite_metrics:
            continue
        findings.append(_to_finding(t, q, threshold))
    changes = metadata_changes(base, cur)
    model_changed = any(f == "model_returned" for f, _, _ in changes)
    for field_name, before, after in changes:
        what = "model string" if field_name == "model_returned" else "fingerprint"
        new = sorted(set(after) - set(before))
        findings.append(Finding(
            dimension="metadata", metric=field_name, probe=None,
            baseline=", ".join(before) or None, current=", ".join(after), effect=1.0,
            p_value=None, q_value=None,
            severity="warning" if field_name == "model_returned" else "info",
            summary=f"the provider now reports {what} {', '.join(new)} (baseline: "
                    f"{', '.join(before) or 'none'})", direction=1))
    if not cur.ok:
        notes.append("the window has no successful responses: behaviour cannot be compared")
    findings.sort(key=lambda f: (-["info", "warning", "critical"].index(f.severity),
                                 f.dimension, f.metric, f.probe or ""))
    return Analysis(findings=findings, tests_run=len(tested), model_string_changed=model_changed,
                    notes=notes, tests=tested, noise=noise)
