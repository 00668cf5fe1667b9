"""The statistical tests a check is made of, on scipy.

Two levels, both paired by probe:

* per probe: Fisher's exact test (binary features) or the Mann-Whitney U test (continuous)
  between that probe's baseline samples and its current ones;
* per suite: a stratified permutation test with probes as strata (within a probe, which
  responses came from the window is exchangeable under no change): Cochran-Mantel-Haenszel on
  yes/no features and mismatch indicators, van Elteren's stratified rank test on continuous ones.

Tests that cannot reach significance with the samples at hand (a Fisher test on 3 vs 3 samples
can never go below p = 0.1) are not run at all (Tarone's trick): they would only dilute the
Benjamini-Hochberg correction that is applied over every test of a check.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from math import comb

import numpy as np
from scipy import stats


def fisher_p(k_base: int, n_base: int, k_cur: int, n_cur: int) -> float:
    """Two-sided Fisher exact p-value for k_base/n_base vs k_cur/n_cur successes."""
    table = [[k_base, n_base - k_base], [k_cur, n_cur - k_cur]]
    return float(stats.fisher_exact(table, alternative="two-sided").pvalue)


@functools.lru_cache(maxsize=4096)
def fisher_min_p(n_base: int, n_cur: int) -> float:
    """A lower bound on the p-values Fisher's test can give with these sample sizes.

    The most extreme table has probability 1/C(n, n_base); two-sided p is at least that and at
    most twice it, so a test whose bound exceeds alpha can never be significant.
    """
    if n_base == 0 or n_cur == 0:
        return 1.0
    return min(1.0, 1.0 / comb(n_base + n_cur, n_base))


def mann_whitney_p(base: Sequence[float], cur: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1.0 when either side is empty or all values tie."""
    b = np.asarray(base, dtype=float)
    c = np.asarray(cur, dtype=float)
    if b.size == 0 or c.size == 0:
        return 1.0
    if np.all(b == b[0]) and np.all(c == b[0]):
        return 1.0
    return float(stats.mannwhitneyu(b, c, alternative="two-sided").pvalue)


def mann_whitney_min_p(n_base: int, n_cur: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney test can give."""
    if n_base == 0 or n_cur == 0:
        return 1.0
    return min(1.0, 2.0 / comb(n_base + n_cur, n_base))


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return np.asarray(stats.false_discovery_control(np.clip(p, 0.0, 1.0), method="bh"))


def stratified_rank_test(values: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                         alternative: str = "two-sided", permutations: int = 1000,
                         seed: int = 0, exact_moments_above: int = 200,
                         ) -> tuple[float, float]:
    """Does side 1 rank higher than side 0 within groups (probes)? Returns (AUC, p-value).

    The null permutes labels within each group, which keeps the pairing by probe: with no
    change, which of a probe's responses came from the current window is exchangeable. The
    statistic is the sum of the current side's ranks (ties averaged), so on 0/1 values this is
    the Cochran-Mantel-Haenszel test and on continuous values the van Elteren (stratified
    Wilcoxon) test. AUC is the rank sum rescaled to [0, 1] (0.5 = no difference).

    Up to ``exact_moments_above`` values the null is sampled (``permutations`` shuffles);
    above it, the rank sum's mean and variance under that same null are computed exactly and
    the tail taken from the normal approximation, accurate with many responses.
    """
    y = np.asarray(labels, dtype=bool)
    g = np.asarray(groups)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5, 1.0
    ranks = stats.rankdata(values)
    offset = n_pos * (n_pos + 1) / 2
    observed = float(ranks[y].sum())
    auc = (observed - offset) / (n_pos * n_neg)
    _, gid = np.unique(g, return_inverse=True)
    n_g = np.bincount(gid).astype(float)
    pos_g = np.bincount(gid, weights=y.astype(float))
    sum_r = np.bincount(gid, weights=ranks)
    mean = float(np.sum(pos_g / n_g * sum_r))
    if y.size > exact_moments_above:
        ss = np.bincount(gid, weights=ranks**2) - sum_r**2 / n_g
        with np.errstate(divide="ignore", invalid="ignore"):
            var_g = np.where(n_g > 1, pos_g * (n_g - pos_g) / (n_g * (n_g - 1)) * ss, 0.0)
        var = float(var_g.sum())
        if var <= 1e-12:
            return float(auc), 1.0
        z = (observed - mean) / np.sqrt(var)
        if alternative == "greater":
            return float(auc), float(stats.norm.sf(z))
        return float(auc), float(min(1.0, 2 * stats.norm.sf(abs(z))))
    rng = np.random.default_rng(seed)
    order = np.argsort(gid, kind="stable")
    gid_sorted = gid[order]
    ranks_sorted = ranks[order]
    y_sorted = y[order].astype(float)
    exceed = 0
    # group id dominates the sort key, so each permutation shuffles only within a probe
    for start in range(0, permutations, 200):
        chunk = min(200, permutations - start)
        keys = gid_sorted[None, :] + rng.random((chunk, y.size))
        sums = y_sorted[np.argsort(keys, axis=1)] @ ranks_sorted
        if alternative == "greater":
            exceed += int(np.sum(sums >= observed - 1e-9))
        else:
            exceed += int(np.sum(np.abs(sums - mean) >= abs(observed - mean) - 1e-9))
    return float(auc), (1 + exceed) / (permutations + 1)


def permutation_auc_p(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                      permutations: int = 1000, seed: int = 0) -> tuple[float, float]:
    """AUC of out-of-fold classifier ``scores`` for ``labels`` and its one-sided p-value under
    the within-probe permutation null (see :func:`stratified_rank_test`). The scores are
    out-of-fold, so they do not depend on the labels being permuted."""
    return stratified_rank_test(scores, labels, groups, alternative="greater",
                                permutations=permutations, seed=seed)
