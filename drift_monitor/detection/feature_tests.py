"""Feature comparisons between a baseline and a window, paired by probe.

Every feature of every family is compared suite by suite (a stratified permutation test with
probes as strata, see stats.py) and, where the sample counts make it possible, per probe
(Fisher or Mann-Whitney). Each comparison yields a :class:`Comparison`; the check then applies
a weighted Benjamini-Hochberg over all of them and keeps those whose effect clears both the
minimum effect and the baseline's own run-to-run (A/A) variation."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drift_monitor.detection import stats
from drift_monitor.detection.findings import (
    MIN_EFFECT_ABSOLUTE,
    MIN_EFFECT_BINARY,
    MIN_EFFECT_CATEGORICAL,
    MIN_EFFECT_RELATIVE,
    clip,
    metric_name,
)
from drift_monitor.detection.samples import Sample, Side, probe_name

ALPHA = 0.05  # false discovery rate per check; confirmation guards the page


@dataclass
class Comparison:
    """One comparison: what was measured, its p-value, and how big an effect must be."""

    dimension: str
    metric: str
    feature: str
    kind: str
    probe: str | None
    baseline: Any
    current: Any
    effect: float
    p_value: float | None
    min_effect: float
    relative: bool = False
    description: str = ""
    examples: list[dict[str, str]] = field(default_factory=list)
    drifted_probes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    suite: str | None = None
    up_only: bool = False  # instability (mismatch, errors): only a rise can page
    n_base: int = 0  # responses on each side (the baseline's share of the variance)
    n_cur: int = 0
    min_p: float = 0.0  # the smallest p-value this test could give (Tarone's filter)
    lazy_p: Callable[[], float] | None = None  # computed only if the test survives Tarone
    sampling_var: float = 0.0  # the effect's variance from sampling alone (for the A/A floor)

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        return (self.dimension, self.metric, self.suite, self.probe)


# Presence rates beside counts: a change confined to a few probes ("now uses bold") moves
# the share of answers that use a construct at all, which a test of mean counts can miss.
PRESENCE = {"uses_emphasis": "emphasis_count", "uses_headings": "heading_count",
            "uses_bullets": "bullet_items", "uses_numbered_lists": "numbered_items",
            "uses_tables": "table_count", "uses_links": "link_count"}


def with_presence(specs: dict[str, Any]) -> dict[str, Any]:
    """``specs`` plus a binary presence feature for each count in :data:`PRESENCE`."""
    from drift_monitor.features import FeatureSpec

    out = dict(specs)
    for name, source in PRESENCE.items():
        if source in specs and name not in specs:
            out[name] = FeatureSpec(name=name, family=specs[source].family, kind="binary",
                                    description=f"answers with any {source.split('_')[0]}")
    return out


def feature_value(features: dict[str, Any], name: str) -> Any:
    """A stored feature, or a presence feature derived from its count."""
    source = PRESENCE.get(name)
    if source is None:
        return features.get(name)
    count = features.get(source)
    return None if count is None else bool(count > 0)


def _values(samples: list[Sample], feature: str) -> list[Any]:
    return [v for s in samples if (v := feature_value(s.features, feature)) is not None]


def _var(b: list[float], c: list[float]) -> float:
    """Sampling variance of mean(c) - mean(b) under no change (pooled variance)."""
    n = len(b) + len(c)
    total = sum(b) + sum(c)
    squares = sum(v * v for v in b) + sum(v * v for v in c)
    s2 = max(0.0, squares - total * total / n) / max(1, n - 1)
    return s2 * (1 / len(b) + 1 / len(c))


def _columns(samples: list[Sample], names: Iterable[str]) -> dict[str, list[Any]]:
    """Each feature's non-missing values over ``samples``, one list per feature."""
    feats = [s.features for s in samples]
    cols: dict[str, list[Any]] = {}
    for name in names:
        if name in PRESENCE:
            values = [v for f in feats if (v := feature_value(f, name)) is not None]
        else:
            values = [v for f in feats if (v := f.get(name)) is not None]
        if values:
            cols[name] = values
    return cols


def _example(probe: str, before: Sample | None, after: Sample | None) -> dict[str, str]:
    return {"probe": probe_name(probe), "before": clip(before.text if before else ""),
            "after": clip(after.text if after else "")}


def _pick(samples: list[Sample], feature: str, want: Any) -> Sample | None:
    for s in samples:
        if feature_value(s.features, feature) == want:
            return s
    return samples[0] if samples else None


def _modes(values: list[Any]) -> set[str]:
    """Every most frequent value (ties are all kept: no string order decides)."""
    counts = Counter(str(v) for v in values)
    top = max(counts.values())
    return {v for v, n in counts.items() if n == top}


def suite_of(probe_key: str) -> str:
    return probe_key.split("/", 1)[0]


def feature_tests(base: Side, cur: Side, specs: dict[str, Any], *,
                  alpha: float = ALPHA, effects_only: bool = False) -> list[Comparison]:
    """Suite-level and per-probe tests for every feature in ``specs``, suite by suite.

    With ``effects_only`` no p-values are computed (used for the A/A noise estimate).
    """
    bp, cp = base.by_probe(), cur.by_probe()
    tests: list[Comparison] = []
    for suite in sorted({suite_of(p) for p in set(bp) & set(cp)}):
        probes = sorted(p for p in set(bp) & set(cp) if suite_of(p) == suite)
        tests.extend(_suite_tests(suite, probes, bp, cp, specs, alpha, effects_only))
    return tests


def _indicators(base: list[Sample], cur: list[Sample], feature: str) -> tuple[list[float],
                                                                              list[float]]:
    """Like-for-like mismatch scores of a categorical feature, one per sample.

    A sample's score is the share of its reference answers that differ from it. The reference
    of a baseline sample is every *other* baseline answer; the reference of a current sample
    is every baseline answer. Both are other draws of the same model, so under no change both
    scores have the same expectation (the chance that two answers differ), at any number of
    samples and runs, with no mode and no tie to break. (Comparing with "the usual answer"
    measured the two sides differently: a baseline sample against two runs, a current one
    against three, ties by string order.) The suite test is stats.stratified_mismatch_test,
    exact under the same null; run-to-run variation is the A/A floor's business.
    """
    bvals = _categories(base, feature)
    cvals = _categories(cur, feature)
    n = len(bvals)
    if n < 2 or not cvals:
        return [], []
    counts = Counter(bvals)
    return ([1.0 - (counts[v] - 1) / (n - 1) for v in bvals],
            [1.0 - counts[v] / n for v in cvals])


def _categories(samples: list[Sample], feature: str) -> list[str]:
    return [str(v) for s in samples if (v := feature_value(s.features, feature)) is not None]


def _suite_tests(suite: str, probes: list[str], bp: dict[str, list[Sample]],
                 cp: dict[str, list[Sample]], specs: dict[str, Any], alpha: float,
                 effects_only: bool) -> list[Comparison]:
    tests: list[Comparison] = []
    # feature values per probe, gathered once: {probe: {feature: [values]}}
    bvals = {p: _columns(bp[p], specs) for p in probes}
    cvals = {p: _columns(cp[p], specs) for p in probes}
    for name, spec in specs.items():
        kind = spec.kind
        dimension = spec.family
        metric = metric_name(name, kind)
        per_probe: list[tuple[str, list[float], list[float]]] = []
        for p in probes:
            if kind == "categorical":
                if name not in bvals[p] or name not in cvals[p]:
                    continue
                bv, cv = _indicators(bp[p], cp[p], name)
            else:
                bv = [float(v) for v in bvals[p].get(name, [])]
                cv = [float(v) for v in cvals[p].get(name, [])]
            if bv and cv:
                per_probe.append((p, bv, cv))
        if not per_probe:
            continue
        b_means = np.array([sum(b) / len(b) for _, b, _ in per_probe])
        c_means = np.array([sum(c) / len(c) for _, _, c in per_probe])
        diffs = c_means - b_means
        base_v, cur_v = float(b_means.mean()), float(c_means.mean())
        relative = False
        if kind == "binary":
            effect, min_effect = cur_v - base_v, MIN_EFFECT_BINARY
        elif kind == "categorical":
            effect, min_effect = cur_v - base_v, MIN_EFFECT_CATEGORICAL
        else:
            # relative change only for sizes (lengths, counts that are usually >= 1): on a
            # count that is mostly zero, 0.08 -> 0.15 would read as +90%
            relative = min(min(b) for _, b, _ in per_probe) >= 0 and base_v >= 1
            if relative:
                effect, min_effect = cur_v / base_v - 1, MIN_EFFECT_RELATIVE
            else:
                effect, min_effect = cur_v - base_v, MIN_EFFECT_ABSOLUTE
        direction = int(np.sign(effect))
        up, down = int(np.sum(diffs > 0)), int(np.sum(diffs < 0))
        moved = tuple(p for (p, _, _), d in zip(per_probe, diffs, strict=True)
                      if direction and np.sign(d) == direction)
        p_value: float | None = None
        examples: list[dict[str, str]] = []
        if not effects_only:
            values = np.array([v for _, b, c in per_probe for v in (*b, *c)])
            labels = np.array([lab for _, b, c in per_probe
                               for lab in ([0] * len(b) + [1] * len(c))])
            groups = np.array([i for i, (_, b, c) in enumerate(per_probe)
                               for _ in range(len(b) + len(c))])
            if np.ptp(values) == 0:
                p_value = 1.0  # nothing varies: untestable, left out by Tarone's filter
            elif kind == "categorical":
                # instability pages only when it rises
                _, p_value = stats.stratified_mismatch_test(
                    [(_categories(bp[p], name), _categories(cp[p], name))
                     for p, _, _ in per_probe], alternative="greater")
            else:
                _, p_value = stats.stratified_rank_test(values, labels, groups)
            biggest = sorted(moved, key=lambda p: -abs(float(
                diffs[[q for q, _, _ in per_probe].index(p)])))
            examples = [_suite_example(p, bp[p], cp[p], name, kind) for p in biggest[:2]]
        var = sum(_var(b, c) for _, b, c in per_probe) / len(per_probe) ** 2
        if relative:
            var /= base_v ** 2
        tests.append(Comparison(dimension=dimension, metric=metric, feature=name, kind=kind,
                          probe=None, baseline=base_v, current=cur_v, effect=effect,
                          p_value=p_value, min_effect=min_effect, relative=relative,
                          min_p=1.0 if p_value == 1.0 else 0.0, sampling_var=var,
                          description=spec.description, examples=examples,
                          drifted_probes=moved, suite=suite, up_only=kind == "categorical",
                          n_base=sum(len(b) for _, b, _ in per_probe),
                          n_cur=sum(len(c) for _, _, c in per_probe),
                          details={"probes": len(per_probe), "probes_up": up,
                                   "probes_down": down}))
        if effects_only:
            continue
        for (p, bv, cv), b_mean, c_mean in zip(per_probe, b_means, c_means, strict=True):
            tests.extend(_probe_test(p, bp[p], cp[p], name, kind, dimension, metric,
                                     float(b_mean), float(c_mean), bv, cv, relative,
                                     min_effect, spec.description, alpha, suite))
    return tests


def _suite_example(p: str, base: list[Sample], cur: list[Sample], name: str,
                   kind: str) -> dict[str, str]:
    if kind == "binary":
        after = _pick(cur, name, True) if np.mean(_values(cur, name)) > np.mean(
            _values(base, name)) else _pick(cur, name, False)
        before = (_pick(base, name, not feature_value(after.features, name))
                  if after else None)
        return _example(p, before, after)
    if kind == "categorical":
        modes = _modes(_values(base, name))
        before = next((s for s in base if str(s.features.get(name)) in modes), None)
        after = next((s for s in cur if str(s.features.get(name)) not in modes), None)
        return _example(p, before, after)
    return _example(p, base[0], max(cur, key=lambda s: abs(float(s.features.get(name) or 0))))


def _probe_test(p: str, base: list[Sample], cur: list[Sample], name: str, kind: str,
                dimension: str, metric: str, b_mean: float, c_mean: float, bv: list[float],
                cv: list[float], relative: bool, min_effect: float, description: str,
                alpha: float, suite: str) -> list[Comparison]:
    nb, nc = len(bv), len(cv)
    if kind in ("continuous", "categorical"):
        min_p = stats.mann_whitney_min_p(nb, nc)
        if min_p > alpha:
            return []
        # mismatch shares: one-sided, instability pages only when it rises
        lazy = functools.partial(stats.mann_whitney_p, bv, cv,
                                 alternative="greater" if kind == "categorical"
                                 else "two-sided")
        effect = ((c_mean / b_mean - 1) if relative and b_mean > 0 and kind == "continuous"
                  else c_mean - b_mean)
    else:
        min_p = stats.fisher_min_p(nb, nc)
        if min_p > alpha or (min(bv) == max(bv) == min(cv) == max(cv)):
            return []
        lazy = functools.partial(stats.fisher_p, int(sum(bv)), nb, int(sum(cv)), nc)
        effect = c_mean - b_mean
    return [Comparison(
        dimension=dimension, metric=metric, feature=name, kind=kind, probe=probe_name(p),
        baseline=b_mean, current=c_mean, effect=effect, p_value=None, lazy_p=lazy,
        min_effect=min_effect, relative=relative and kind == "continuous",
        description=description, examples=[_suite_example(p, base, cur, name, kind)],
        drifted_probes=(p,) if effect else (), suite=suite, min_p=min_p,
        up_only=kind == "categorical", n_base=nb, n_cur=nc)]


def aa_noise(base: Side, specs: dict[str, Any]) -> dict[Any, float]:
    """The run-to-run noise a change has to exceed, per suite-level metric.

    Each baseline run is compared with the other runs (A/A). Sampling noise is what the test
    already accounts for, so only run-level variation beyond it counts: when the A/A effects
    are larger than sampling alone explains (sum of effect^2 / sampling variance above the
    95th percentile of chi-square with one degree per run), the floor is twice the standard
    deviation of the run-level shifts, sqrt(mean(effect^2 - sampling variance)); otherwise
    there is no floor. Empty with one run.
    """
    key = (tuple((s.probe, s.run_id, s.text) for s in base.samples), tuple(specs))
    if key not in _NOISE_CACHE:
        if len(_NOISE_CACHE) >= 8:
            _NOISE_CACHE.pop(next(iter(_NOISE_CACHE)))
        _NOISE_CACHE[key] = _aa_noise(base, specs)
    return dict(_NOISE_CACHE[key])


# recent baselines' A/A noise: every check of a target against the same baseline (and the
# confirmation round after it) needs the same, and it is the costliest part of a check
_NOISE_CACHE: dict[Any, dict[Any, float]] = {}


def _aa_noise(base: Side, specs: dict[str, Any]) -> dict[Any, float]:
    from scipy.stats import chi2

    runs = base.run_ids
    pairs: dict[Any, list[tuple[float, float]]] = {}
    if len(runs) < 2:
        return {}
    for r in runs:
        for t in feature_tests(base.without_run(r), base.only_run(r), specs, effects_only=True):
            pairs.setdefault(t.key, []).append((t.effect ** 2, t.sampling_var))
    out: dict[Any, float] = {}
    for k, v in pairs.items():
        ratio = sum(e2 / var if var > 0 else (np.inf if e2 > 0 else 0.0) for e2, var in v)
        if ratio <= chi2.ppf(0.95, len(v)):
            out[k] = 0.0
            continue
        out[k] = 2 * float(np.sqrt(max(0.0, float(np.mean([e2 - var for e2, var in v])))))
    return out
