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
from statistics import NormalDist
from typing import Any

import numpy as np
from scipy import stats


def fisher_p(k_base: int, n_base: int, k_cur: int, n_cur: int, *,
             alternative: str = "two-sided") -> float:
    """Fisher exact p-value for k_base/n_base vs k_cur/n_cur successes
    (``alternative="greater"``: the current rate is higher)."""
    table = [[k_cur, n_cur - k_cur], [k_base, n_base - k_base]]
    return float(stats.fisher_exact(table, alternative=alternative).pvalue)


@functools.lru_cache(maxsize=4096)
def fisher_min_p(n_base: int, n_cur: int) -> float:
    """A lower bound on the p-values Fisher's test can give with these sample sizes.

    The most extreme table has probability 1/C(n, n_base); two-sided p is at least that and at
    most twice it, so a test whose bound exceeds alpha can never be significant.
    """
    if n_base == 0 or n_cur == 0:
        return 1.0
    return min(1.0, 1.0 / comb(n_base + n_cur, n_base))


def mann_whitney_p(base: Sequence[float], cur: Sequence[float], *,
                   alternative: str = "two-sided") -> float:
    """Mann-Whitney U p-value (``alternative="greater"``: current values larger); 1.0 when
    either side is empty or all values tie."""
    b = np.asarray(base, dtype=float)
    c = np.asarray(cur, dtype=float)
    if b.size == 0 or c.size == 0:
        return 1.0
    if np.all(b == b[0]) and np.all(c == b[0]):
        return 1.0
    if alternative == "greater":
        return float(stats.mannwhitneyu(c, b, alternative="greater").pvalue)
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


def one_sided_z(p_value: float | None, effect: float, direction: int, *,
                two_sided: bool = True, cap: float = 8.0) -> float:
    """The normal score of a test in ``direction`` (+1: the current side is larger).

    A two-sided p-value is halved towards the observed side; evidence against the direction
    gives a negative score. Clipped to [-cap, cap], so one extreme check cannot carry a
    sequential test alone and a p-value of 0 stays finite.
    """
    if p_value is None:
        return 0.0
    p = min(1.0, max(0.0, float(p_value)))
    if two_sided:
        p = p / 2 if np.sign(effect) == direction and effect != 0 else 1 - p / 2
    elif direction < 0:
        p = 1 - p
    if p >= 1:
        return -cap
    # NormalDist is exact enough here and ~50x faster per call than scipy's isf
    z = -_STANDARD_NORMAL.inv_cdf(max(p, 1e-300))
    return float(min(cap, max(-cap, z)))


_STANDARD_NORMAL = NormalDist()


def _compositions(counts: list[int], total: int) -> list[tuple[int, ...]]:
    """Every way to take ``total`` items from categories holding ``counts`` items."""
    out: list[tuple[int, ...]] = []

    def rec(i: int, left: int, acc: tuple[int, ...]) -> None:
        if len(out) > MAX_COMPOSITIONS:
            return
        if i == len(counts) - 1:
            if left <= counts[i]:
                out.append((*acc, left))
            return
        for k in range(min(left, counts[i]) + 1):
            rec(i + 1, left - k, (*acc, k))

    rec(0, total, ())
    return out


MAX_COMPOSITIONS = 5000


def mismatch_moments(base: Sequence[str], cur: Sequence[str]) -> tuple[float, float, float]:
    """One probe's mismatch statistic and its exact mean and variance under no change.

    The statistic is D_cb - D_bb: the share of (current, baseline) answer pairs that differ
    minus the share of (baseline, baseline) pairs that differ. Both are shares of pairs of
    distinct responses, so under no change (the probe's answers exchangeable) both have the
    same expectation, whatever the numbers of samples and runs. Conditional on the probe's
    pooled answers, the statistic depends only on how many current answers fall in each
    category, a multivariate hypergeometric draw: its distribution is enumerated exactly.
    Returns (observed, mean, variance); (0, 0, 0) when there are fewer than two baseline
    answers.
    """
    cats = sorted(set(base) | set(cur))
    idx = {c: i for i, c in enumerate(cats)}
    n_b, n_c = len(base), len(cur)
    if n_b < 2 or n_c < 1:
        return 0.0, 0.0, 0.0
    big_n = np.zeros(len(cats), dtype=np.int64)
    w_obs = np.zeros(len(cats), dtype=np.int64)
    for v in base:
        big_n[idx[v]] += 1
    for v in cur:
        big_n[idx[v]] += 1
        w_obs[idx[v]] += 1

    def stat(w: np.ndarray) -> np.ndarray:
        b = big_n - w
        d_cb = 1 - (w * b).sum(axis=-1) / (n_c * n_b)
        d_bb = 1 - (b * (b - 1)).sum(axis=-1) / (n_b * (n_b - 1))
        return d_cb - d_bb

    observed = float(stat(w_obs))
    if len(cats) == 1:
        return observed, 0.0, 0.0
    comps = _compositions([int(x) for x in big_n], n_c)
    if len(comps) > MAX_COMPOSITIONS:  # many categories and samples: sample the null instead
        rng = np.random.default_rng(0)
        pool = np.repeat(np.arange(len(cats)), big_n)
        draws = np.array([np.bincount(rng.choice(pool, n_c, replace=False),
                                      minlength=len(cats)) for _ in range(2000)])
        t = stat(draws)
        return observed, float(t.mean()), float(t.var())
    w = np.array(comps, dtype=np.int64)
    log_p = (np.sum([_log_comb(big_n[k], w[:, k]) for k in range(len(cats))], axis=0)
             - _log_comb(np.int64(n_b + n_c), np.int64(n_c)))
    prob = np.exp(log_p)
    prob /= prob.sum()
    t = stat(w)
    mean = float(np.sum(prob * t))
    return observed, mean, float(np.sum(prob * (t - mean) ** 2))


def _log_comb(n: Any, k: Any) -> Any:
    from scipy.special import gammaln

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def stratified_mismatch_test(probes: Sequence[tuple[Sequence[str], Sequence[str]]], *,
                             alternative: str = "greater") -> tuple[float, float]:
    """Do current answers differ from the baseline's more than baseline answers differ from
    each other, across probes? (see :func:`mismatch_moments`). The per-probe statistics are
    independent under the within-probe null; their sum is compared with its exact mean and
    variance (normal tail). Returns (mean per-probe statistic, p-value)."""
    obs = mean = var = 0.0
    used = 0
    for b, c in probes:
        o, m, v = mismatch_moments(b, c)
        if v <= 0 and o == m:
            continue
        obs, mean, var, used = obs + o, mean + m, var + v, used + 1
    if used == 0 or var <= 1e-12:
        return 0.0, 1.0
    z = (obs - mean) / np.sqrt(var)
    if alternative == "greater":
        return obs / used, float(stats.norm.sf(z))
    return obs / used, float(min(1.0, 2 * stats.norm.sf(abs(z))))


def stratified_rank_test(values: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                         alternative: str = "two-sided", permutations: int = 1000,
                         seed: int = 0, exact_moments_above: int = 200,
                         normal_beyond_shuffles: bool = True) -> tuple[float, float]:
    """Does side 1 rank higher than side 0 within groups (probes)? Returns (AUC, p-value).

    The null permutes labels within each group, which keeps the pairing by probe: with no
    change, which of a probe's responses came from the current window is exchangeable. The
    statistic is the sum of the current side's ranks (ties averaged), so on 0/1 values this is
    the Cochran-Mantel-Haenszel test and on continuous values the van Elteren (stratified
    Wilcoxon) test. AUC is the rank sum rescaled to [0, 1] (0.5 = no difference).

    Up to ``exact_moments_above`` values the null is sampled (``permutations`` shuffles);
    above it, the rank sum's mean and variance under that same null are computed exactly and
    the tail taken from the normal approximation, accurate with many responses. A sampled
    p-value at its floor (no shuffle as extreme) is replaced by the normal tail when smaller,
    unless ``normal_beyond_shuffles`` is off (classifier scores: their tails are not normal,
    and the replay null caught one false page from that tail).
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
    ss = np.bincount(gid, weights=ranks**2) - sum_r**2 / n_g
    with np.errstate(divide="ignore", invalid="ignore"):
        var_g = np.where(n_g > 1, pos_g * (n_g - pos_g) / (n_g * (n_g - 1)) * ss, 0.0)
    var = float(var_g.sum())
    if var <= 1e-12:
        return float(auc), 1.0
    z = (observed - mean) / np.sqrt(var)
    normal_p = (float(stats.norm.sf(z)) if alternative == "greater"
                else float(min(1.0, 2 * stats.norm.sf(abs(z)))))
    if y.size > exact_moments_above:
        return float(auc), normal_p
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
    if exceed == 0 and normal_beyond_shuffles:
        # beyond every shuffle: the sampled null cannot say how far beyond, the normal tail
        # of the same exact moments can (evidence over time needs more than p >= 1/1001)
        return float(auc), min(normal_p, 1 / (permutations + 1))
    return float(auc), (1 + exceed) / (permutations + 1)


def permutation_auc_p(scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, *,
                      permutations: int = 1000, seed: int = 0) -> tuple[float, float]:
    """AUC of out-of-fold classifier ``scores`` for ``labels`` and its one-sided p-value under
    the within-probe permutation null (see :func:`stratified_rank_test`), never below
    1 / (permutations + 1). The scores are out-of-fold, so they do not depend on the labels
    being permuted."""
    return stratified_rank_test(scores, labels, groups, alternative="greater",
                                permutations=permutations, seed=seed,
                                normal_beyond_shuffles=False)
