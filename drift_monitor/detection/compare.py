"""Feature comparisons between a baseline and a window, paired by probe.

Every feature of every family is compared at the suite level (one difference per probe,
combined by a sign or signed-rank test) and, where the sample counts make it possible, per
probe (Fisher or Mann-Whitney). Each comparison yields a :class:`Test`; the check then applies
Benjamini-Hochberg over all of them and keeps those whose effect clears both the minimum effect
and the baseline's own run-to-run (A/A) variation.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drift_monitor.detection import stats
from drift_monitor.detection.findings import (
    MIN_CONSISTENCY,
    MIN_EFFECT_ABSOLUTE,
    MIN_EFFECT_BINARY,
    MIN_EFFECT_CATEGORICAL,
    MIN_EFFECT_RELATIVE,
    clip,
    metric_name,
)
from drift_monitor.detection.samples import Sample, Side, probe_name

ALPHA = 0.01


@dataclass
class Test:
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
    consistent: bool = True  # for continuous features: most probes moved the same way

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        return (self.dimension, self.metric, self.suite, self.probe)


def _values(samples: list[Sample], feature: str) -> list[Any]:
    return [s.features.get(feature) for s in samples if s.features.get(feature) is not None]


def _columns(samples: list[Sample]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {}
    for s in samples:
        for k, v in s.features.items():
            if v is not None:
                cols.setdefault(k, []).append(v)
    return cols


def _example(probe: str, before: Sample | None, after: Sample | None) -> dict[str, str]:
    return {"probe": probe_name(probe), "before": clip(before.text if before else ""),
            "after": clip(after.text if after else "")}


def _pick(samples: list[Sample], feature: str, want: Any) -> Sample | None:
    for s in samples:
        if s.features.get(feature) == want:
            return s
    return samples[0] if samples else None


def _mode(values: list[Any]) -> Any:
    counts = Counter(values)
    top = max(counts.values())
    return min(str(v) for v, n in counts.items() if n == top)


def _aa_mismatch(samples: list[Sample], feature: str, mode: str) -> tuple[int, int]:
    """Mismatches of the baseline against itself: each run against the other runs' mode when
    the baseline has several runs, else against the baseline's own mode."""
    runs = sorted({s.run_id for s in samples})
    if len(runs) < 2:
        vals = [str(v) for v in _values(samples, feature)]
        return sum(v != mode for v in vals), len(vals)
    mism = total = 0
    for r in runs:
        own = [str(v) for v in _values([s for s in samples if s.run_id == r], feature)]
        others = _values([s for s in samples if s.run_id != r], feature)
        if not own or not others:
            continue
        other_mode = _mode(others)
        mism += sum(v != other_mode for v in own)
        total += len(own)
    return mism, total


def suite_of(probe_key: str) -> str:
    return probe_key.split("/", 1)[0]


def feature_tests(base: Side, cur: Side, specs: dict[str, Any], *,
                  alpha: float = ALPHA, effects_only: bool = False) -> list[Test]:
    """Suite-level and per-probe tests for every feature in ``specs``, suite by suite.

    With ``effects_only`` no p-values are computed (used for the A/A noise estimate).
    """
    bp, cp = base.by_probe(), cur.by_probe()
    tests: list[Test] = []
    for suite in sorted({suite_of(p) for p in set(bp) & set(cp)}):
        probes = sorted(p for p in set(bp) & set(cp) if suite_of(p) == suite)
        tests.extend(_suite_tests(suite, probes, bp, cp, specs, alpha, effects_only))
    return tests


def _suite_tests(suite: str, probes: list[str], bp: dict[str, list[Sample]],
                 cp: dict[str, list[Sample]], specs: dict[str, Any], alpha: float,
                 effects_only: bool) -> list[Test]:
    tests: list[Test] = []
    # feature values per probe, gathered once: {probe: {feature: [values]}}
    bvals = {p: _columns(bp[p]) for p in probes}
    cvals = {p: _columns(cp[p]) for p in probes}
    for name, spec in specs.items():
        kind = spec.kind
        dimension = spec.family
        metric = metric_name(name, kind)
        rows = []  # (probe, base value, current value, n_b, n_c, k_b, k_c)
        for p in probes:
            if kind == "categorical":
                bv = bvals[p].get(name, [])
                cv = [str(v) for v in cvals[p].get(name, [])]
                if not bv or not cv:
                    continue
                mode = _mode(bv)
                kb, nb = _aa_mismatch(bp[p], name, mode)
                kc = sum(v != mode for v in cv)
                if nb == 0:
                    continue
                rows.append((p, kb / nb, kc / len(cv), nb, len(cv), kb, kc))
            else:
                bv = [float(v) for v in bvals[p].get(name, [])]
                cv = [float(v) for v in cvals[p].get(name, [])]
                if not bv or not cv:
                    continue
                sb, sc = sum(bv), sum(cv)
                rows.append((p, sb / len(bv), sc / len(cv), len(bv), len(cv), sb, sc))
        if not rows:
            continue
        b_means = np.array([r[1] for r in rows])
        c_means = np.array([r[2] for r in rows])
        diffs = c_means - b_means
        base_v, cur_v = float(b_means.mean()), float(c_means.mean())
        relative = False
        if kind == "binary":
            effect, min_effect = cur_v - base_v, MIN_EFFECT_BINARY
        elif kind == "categorical":
            effect, min_effect = cur_v - base_v, MIN_EFFECT_CATEGORICAL
        else:
            all_base = [float(v) for p in probes for v in bvals[p].get(name, [])]
            relative = bool(all_base) and min(all_base) >= 0 and base_v > 0
            if relative:
                effect, min_effect = cur_v / base_v - 1, MIN_EFFECT_RELATIVE
            else:
                effect, min_effect = cur_v - base_v, MIN_EFFECT_ABSOLUTE
        direction = int(np.sign(effect))
        up, down = int(np.sum(diffs > 0)), int(np.sum(diffs < 0))
        consistent = kind != "continuous" or abs(up - down) / len(rows) >= MIN_CONSISTENCY
        moved = tuple(r[0] for r, d in zip(rows, diffs, strict=True)
                      if direction and np.sign(d) == direction)
        p_value: float | None = None
        if not effects_only:
            nonzero = int(np.sum(diffs != 0))
            if kind == "continuous":
                p_value = stats.signed_rank_p(diffs) if nonzero >= 6 else None
            elif stats.sign_test_min_p(nonzero) <= alpha:
                p_value = stats.sign_test_p(diffs)
        examples = []
        if not effects_only and moved:
            order = sorted(moved, key=lambda p: -abs(dict(zip([r[0] for r in rows], diffs,
                                                               strict=True))[p]))
            for p in order[:2]:
                examples.append(_suite_example(p, bp[p], cp[p], name, kind))
        tests.append(Test(dimension=dimension, metric=metric, feature=name, kind=kind,
                          probe=None, baseline=base_v, current=cur_v, effect=effect,
                          p_value=p_value, min_effect=min_effect, relative=relative,
                          description=spec.description, examples=examples,
                          drifted_probes=moved, suite=suite, consistent=consistent,
                          details={"probes": len(rows), "probes_up": up,
                                   "probes_down": down}))
        if effects_only:
            continue
        for p, b_mean, c_mean, nb, nc, kb, kc in rows:
            tests.extend(_probe_test(p, bp[p], cp[p], name, kind, dimension, metric,
                                     b_mean, c_mean, nb, nc, kb, kc, relative, min_effect,
                                     spec.description, alpha, suite))
    return tests


def _suite_example(p: str, base: list[Sample], cur: list[Sample], name: str,
                   kind: str) -> dict[str, str]:
    if kind == "binary":
        after = _pick(cur, name, True) if np.mean(_values(cur, name)) > np.mean(
            _values(base, name)) else _pick(cur, name, False)
        before = _pick(base, name, not after.features.get(name)) if after else None
        return _example(p, before, after)
    if kind == "categorical":
        mode = _mode(_values(base, name))
        before = next((s for s in base if str(s.features.get(name)) == mode), None)
        after = next((s for s in cur if str(s.features.get(name)) != mode), None)
        return _example(p, before, after)
    return _example(p, base[0], max(cur, key=lambda s: abs(float(s.features.get(name) or 0))))


def _probe_test(p: str, base: list[Sample], cur: list[Sample], name: str, kind: str,
                dimension: str, metric: str, b_mean: float, c_mean: float, nb: int, nc: int,
                kb: float, kc: float, relative: bool, min_effect: float, description: str,
                alpha: float, suite: str) -> list[Test]:
    if kind == "continuous":
        if stats.mann_whitney_min_p(nb, nc) > alpha:
            return []
        pv = stats.mann_whitney_p([float(v) for v in _values(base, name)],
                                  [float(v) for v in _values(cur, name)])
        effect = (c_mean / b_mean - 1) if relative and b_mean > 0 else c_mean - b_mean
    else:
        if stats.fisher_min_p(nb, nc) > alpha:
            return []
        pv = stats.fisher_p(int(kb), nb, int(kc), nc)
        effect = c_mean - b_mean
    return [Test(dimension=dimension, metric=metric, feature=name, kind=kind,
                 probe=probe_name(p), baseline=b_mean, current=c_mean, effect=effect,
                 p_value=pv, min_effect=min_effect, relative=relative and kind == "continuous",
                 description=description, examples=[_suite_example(p, base, cur, name, kind)],
                 drifted_probes=(p,) if effect else (), suite=suite)]


def aa_noise(base: Side, specs: dict[str, Any]) -> dict[tuple[str, str, str | None], float]:
    """The largest suite-level effect seen between one baseline run and the others.

    This is the run-to-run noise a change has to exceed. Empty when the baseline has one run.
    """
    runs = base.run_ids
    noise: dict[tuple[str, str, str | None], float] = {}
    if len(runs) < 2:
        return noise
    for r in runs:
        for t in feature_tests(base.without_run(r), base.only_run(r), specs, effects_only=True):
            noise[t.key] = max(noise.get(t.key, 0.0), abs(t.effect))
    return noise
