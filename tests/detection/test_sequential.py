"""Detection over time: the sequential evidence spends a false-page budget per target-year,
catches persistent changes, and survives a restart."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drift_monitor.detection import sequential
from drift_monitor.detection.feature_tests import Comparison
from drift_monitor.detection.sequential import Evidence, budget_for, observe

DAY = 86400.0


def comparison(name: str, z: float, *, up_only: bool = False, effect: float | None = None,
               min_effect: float = 0.10) -> Comparison:
    """A test whose two-sided (or, up_only, one-sided) p-value has normal score ``z``."""
    sf = 0.5 * math.erfc(z / math.sqrt(2))
    p = sf if up_only else min(1.0, 2 * 0.5 * math.erfc(abs(z) / math.sqrt(2)))
    eff = effect if effect is not None else 0.05 * z
    return Comparison(dimension="formatting", metric=name, feature=name, kind="binary",
                      probe=None, baseline=0.5, current=0.5 + eff, effect=eff, p_value=p,
                      min_effect=min_effect, suite="s", up_only=up_only, n_base=300,
                      n_cur=100)


def _delay(b: sequential.Budget) -> float:
    return b.h / (sequential.REFERENCE_SHIFT - b.k)


def test_the_budget_buys_a_higher_bar_for_more_checks_and_more_tests() -> None:
    hourly = budget_for(1.0, 3600, 100)
    daily = budget_for(1.0, DAY, 100)
    assert hourly.checks_per_year == pytest.approx(8766, rel=1e-3)
    assert _delay(hourly) > _delay(daily)
    assert _delay(budget_for(1.0, 3600, 1000)) > _delay(hourly)
    assert budget_for(1.0, 3600, 1000).c > hourly.c
    assert _delay(budget_for(10.0, 3600, 100)) < _delay(hourly)
    # a baseline that is a larger share of the variance (fewer baseline runs) costs speed
    assert _delay(budget_for(1.0, 3600, 100, rho=0.5)) > _delay(hourly)
    assert hourly.k > sequential.K
    # the expected false pages a year of the chosen thresholds fit the budget
    for b in (hourly, daily, budget_for(10.0, 3600, 100)):
        assert sequential.pages_per_year(b.h, b.k, b.checks_per_year, b.tests,
                                         b.rho) <= b.false_pages_per_year * 1.001


def _simulate_year(rng: np.random.Generator, tests: int, interval: float, budget: float,
                   rho: float, shift: float = 0.0) -> int:
    """One target-year of checks against one baseline, every test under no change (or all
    shifted by ``shift`` in z): a check's score is the baseline's fixed offset plus the
    window's noise, the correlation every check against the same baseline has. Returns the
    number of pages (a test starting to alarm)."""
    b = sequential.budget_for(budget, interval, 2 * tests)  # two directions a test, as decide
    offsets = rng.normal(0, np.sqrt(rho), tests)
    ev = Evidence(baseline_id=1)
    alarmed: set[str] = set()
    pages = 0
    for _ in range(int(b.checks_per_year)):
        zs = offsets + rng.normal(0, np.sqrt(1 - rho), tests) + shift
        tests_now = [comparison(f"m{i}", float(z)) for i, z in enumerate(zs)]
        for t in tests_now:
            t.n_base, t.n_cur = int(100 * (1 / rho - 1)), 100
        ev, alarms = observe(ev, tests_now, b)
        new = set(alarms) - alarmed
        pages += bool(new)
        alarmed = set(alarms)
    return pages


def test_false_pages_per_target_year_stay_within_the_budget() -> None:
    """Error control, by simulation: 25 target-years at a daily schedule with 20 tests a check
    and a budget of one false page a year; correlated checks (one baseline) included."""
    rng = np.random.default_rng(7)
    years = 25
    pages = sum(_simulate_year(rng, 20, DAY, 1.0, rho=0.25) for _ in range(years))
    assert pages / years <= 1.0, pages


def test_ignoring_the_shared_baseline_would_page_too_often() -> None:
    """The same simulation with a CUSUM tuned as if checks were independent (reference value
    K0, no allowance for the baseline's offset): an unusual baseline then pages again and
    again, which is why the allowance exists, and shows the simulation above can fail."""
    rng = np.random.default_rng(7)
    real = sequential.budget_for

    def naive(*a: object, **k: object) -> sequential.Budget:
        b = real(*a, **k)  # type: ignore[arg-type]
        return sequential.Budget(h=b.h, k=sequential.K, c=-np.inf,
                                 checks_per_year=b.checks_per_year, tests=b.tests,
                                 false_pages_per_year=b.false_pages_per_year)

    sequential.budget_for = naive  # type: ignore[assignment]
    try:
        pages = sum(_simulate_year(rng, 20, DAY, 1.0, rho=0.25) for _ in range(10))
    finally:
        sequential.budget_for = real
    assert pages / 10 > 2.0


def test_a_persistent_change_pages_within_a_few_checks() -> None:
    b = budget_for(1.0, 3600, 50)
    ev = Evidence(baseline_id=1)
    checks = 0
    for _ in range(1, 6):
        checks += 1
        ev, alarms = observe(ev, [comparison("fence", 4.0)], b)
        if alarms:
            break
    assert alarms and checks <= 3
    (alarm,) = alarms.values()
    assert alarm.direction == 1 and alarm.observations == checks


def test_one_extreme_window_never_pages_alone() -> None:
    b = budget_for(1.0, 3600, 50)
    ev, alarms = observe(Evidence(baseline_id=1), [comparison("fence", 40.0)], b)
    assert not alarms  # at least two observations: a confirmation round or the next check
    assert sequential.near_alarm(ev, b, "formatting|fence|s||+")
    ev, alarms = observe(ev, [comparison("fence", 40.0)], b, count_check=False)
    assert alarms and ev.checks == 1


def test_a_change_below_a_quarter_of_the_minimum_effect_never_pages() -> None:
    b = budget_for(1.0, 3600, 50)
    ev = Evidence(baseline_id=1)
    for _ in range(50):
        ev, alarms = observe(ev, [comparison("len", 6.0, effect=0.02)], b)
        assert not alarms


def test_instability_keys_only_page_when_it_rises() -> None:
    b = budget_for(1.0, 3600, 50)
    ev = Evidence(baseline_id=1)
    for _ in range(10):
        # a one-sided test of a fall: p near 1, z very negative
        ev, alarms = observe(ev, [comparison("answer_mismatch_rate", -6.0, up_only=True,
                                             effect=-0.3)], b)
        assert not alarms and not ev.keys


def test_evidence_round_trips_and_a_new_baseline_starts_afresh() -> None:
    b = budget_for(1.0, 3600, 50)
    ev, _ = observe(Evidence(baseline_id=3), [comparison("fence", 3.0)], b)
    again = Evidence.from_json(ev.to_json(), 3)
    assert again == ev and again.checks == 1 and again.keys
    assert Evidence.from_json(ev.to_json(), 4) == Evidence(baseline_id=4)
    assert Evidence.from_json(None, 4) == Evidence(baseline_id=4)


def test_evidence_decays_when_a_test_is_not_run() -> None:
    b = budget_for(1.0, 3600, 50)
    ev, _ = observe(Evidence(baseline_id=1), [comparison("fence", 5.0)], b)
    s = ev.keys["formatting|fence|s||+"].s
    ev, _ = observe(ev, [], b)
    assert ev.keys["formatting|fence|s||+"].s == pytest.approx(s - b.k)
