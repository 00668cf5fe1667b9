"""Each statistical component on data where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from drift_monitor.detection import stats


def test_fisher_matches_a_hand_computed_table() -> None:
    # 1/10 vs 9/10: the classic two-sided Fisher p-value
    assert stats.fisher_p(1, 10, 9, 10) == pytest.approx(0.0011, abs=1e-4)
    assert stats.fisher_p(5, 10, 5, 10) == pytest.approx(1.0)


def test_minimum_achievable_p_values() -> None:
    # 3 vs 3 samples can never be significant at 1%; 10 vs 10 can
    assert stats.fisher_min_p(3, 3) > 0.01
    assert stats.fisher_min_p(10, 10) < 1e-4
    assert stats.mann_whitney_min_p(3, 3) == pytest.approx(0.1)
    assert stats.fisher_min_p(0, 5) == 1.0


def test_mann_whitney_detects_a_shift_and_not_noise() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 60)
    assert stats.mann_whitney_p(a, rng.normal(1.0, 1, 60)) < 1e-4
    assert stats.mann_whitney_p(a, a) == pytest.approx(1.0, abs=1e-9)
    assert stats.mann_whitney_p([1, 1, 1], [1, 1]) == 1.0


def test_benjamini_hochberg_matches_scipy_and_keeps_order() -> None:
    p = [0.04, 0.001, 0.5, 0.01]
    q = stats.benjamini_hochberg(p)
    assert list(q) == pytest.approx(list(sps.false_discovery_control(p)))
    assert q[1] == pytest.approx(0.004)
    assert all(qi >= pi for qi, pi in zip(q, p, strict=True))


def _strata(n_probes: int, per_side: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    nb, nc = per_side
    labels = np.tile(np.r_[np.zeros(nb), np.ones(nc)], n_probes)
    groups = np.repeat(np.arange(n_probes), nb + nc)
    return labels, groups


@pytest.mark.parametrize("n_probes", [20, 300])  # sampled null, and exact moments
def test_stratified_rank_test_is_calibrated_under_the_null(n_probes: int) -> None:
    """Probes differ wildly in their rates; within a probe the sides are exchangeable."""
    rng = np.random.default_rng(7)
    labels, groups = _strata(n_probes, (9, 3))
    ps = []
    for _ in range(150):
        rate = rng.random(n_probes)[groups]
        values = (rng.random(labels.size) < rate).astype(float)
        ps.append(stats.stratified_rank_test(values, labels, groups, permutations=400)[1])
    rejections = np.mean(np.array(ps) < 0.05)
    assert rejections < 0.12  # 5% nominal; generous for 150 draws


def test_stratified_rank_test_finds_a_within_probe_shift() -> None:
    rng = np.random.default_rng(3)
    labels, groups = _strata(40, (9, 3))
    base = rng.random(40)[groups]
    values = (rng.random(labels.size) < np.clip(base + 0.3 * labels, 0, 1)).astype(float)
    auc, p = stats.stratified_rank_test(values, labels, groups)
    assert p < 1e-3 and auc > 0.6


def test_stratified_test_ignores_differences_between_probes() -> None:
    """A probe mix that differs between sides must not look like drift: values depend only on
    the probe, and the current side over-samples the high probes."""
    groups = np.repeat(np.arange(10), 8)
    labels = np.tile([0, 0, 0, 0, 0, 0, 1, 1], 10)
    values = groups.astype(float)  # constant within a probe
    _, p = stats.stratified_rank_test(values, labels, groups)
    assert p == pytest.approx(1.0)


def test_permutation_auc_of_a_perfect_and_a_useless_classifier() -> None:
    labels, groups = _strata(30, (2, 2))
    perfect = labels + 0.01 * np.arange(labels.size) / labels.size
    auc, p = stats.permutation_auc_p(perfect, labels, groups)
    assert auc == pytest.approx(1.0) and p < 0.01
    rng = np.random.default_rng(0)
    auc, p = stats.permutation_auc_p(rng.random(labels.size), labels, groups)
    assert 0.3 < auc < 0.7 and p > 0.01
