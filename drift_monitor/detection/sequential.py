"""Detection over time: evidence carried from one check to the next since the baseline.

The daemon checks after every round, so a per-check false-alarm rate compounds (0.1% per check
is nine false pages a year for one hourly target). Instead of deciding each check alone, every
test of a check is one observation in a CUSUM per (test, direction), and the false-page budget
``detection.false_pages_per_year`` is spent over time.

For each test the observation is its one-sided normal score z in the direction that would page
(instability, errors: only up; other features: up and down, two keys). Per key::

    S = max(0, S + min(z, Z_CAP) - K)

and since S was last zero the key remembers how many observations it has (n), their scores and
effects. A key *alarms* when all of these hold:

1. S >= H: the evidence has built up. H is set from the budget with Siegmund's approximation
   of the CUSUM's in-control run length, so that, over the number of tests a check runs, half
   the budget goes to noise in the windows.
2. at least ``min_observations`` observations (2 with confirmation: one check never pages
   alone; a confirmation round or the next check is the second);
3. the pooled comparison still stands when the baseline's own uncertainty is counted once:
   every check is compared with the same baseline, so a baseline that was unusual by chance
   would otherwise look like a lasting change. With rho the baseline's share of a check's
   variance, mean(z) / sqrt(rho + (1 - rho) / n) >= C, C set so the other half of the budget
   covers unusual baselines (C is a one-sided normal quantile at budget / (4 x tests));
4. the mean effect over those observations is at least ROLLOUT_FLOOR of the test's minimum
   effect: small persistent changes (a partial rollout) may page after enough evidence, a
   wiggle below a quarter of the minimum effect never does.

Pure: values in, values out. The state is a JSON-able dict stored with the check, so a restart
loses nothing. Error control is checked by simulation in tests/detection/test_sequential.py and
on real recordings in benchmarks/detection.py.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as _stats

from drift_monitor.detection import stats
from drift_monitor.detection.feature_tests import Comparison

Z_CAP = 8.0  # one check adds at most Z_CAP - K: a single extreme window never pages alone
K = 0.5  # the per-check drift, in z, tolerated beyond the baseline's own offset
ROLLOUT_FLOOR = 0.25  # share of the minimum effect a persistent change must reach
SECONDS_PER_YEAR = 365.25 * 86400
MIN_TESTS = 10  # the budget is split over at least this many tests
# An alarm episode lasts until S is back at zero (no flapping around H, and the run-length
# arithmetic restarts from zero); S never exceeds S_CAP x H, so a change that went away stops
# alarming within a few checks
S_CAP = 2.0


@dataclass(frozen=True)
class Budget:
    """The thresholds one target's false-page budget buys."""

    h: float  # CUSUM threshold
    k: float  # CUSUM reference value: the per-check drift (in z) that is tolerated
    c: float  # pooled-z threshold
    checks_per_year: float
    tests: int
    false_pages_per_year: float
    rho: float = 0.25


def _arl(drift: float, var: float, h: float) -> float:
    """Siegmund's approximation of a CUSUM's average run length (in checks) for increments
    of mean ``drift`` and variance ``var`` and threshold ``h``."""
    sd = math.sqrt(var)
    b = h + 1.166 * sd
    if abs(drift) < 1e-9:
        return (b / sd) ** 2
    a = 2 * drift * b / var
    if -a > 700:
        return math.inf
    return (math.exp(-a) + a - 1) / (2 * drift * drift / var)


_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def pages_per_year(h: float, k: float, checks: float, tests: int, rho: float) -> float:
    """Expected false pages a year of ``tests`` CUSUMs against one baseline.

    Every check is compared with the same baseline, so a test's scores share the baseline's
    offset m ~ N(0, rho) and vary around it with variance 1 - rho. Given m the increments
    drift by m - k: below zero, a CUSUM pages once per run length plus the length of the
    episode it starts (about h / |drift| checks until S is back at zero); at or above zero it
    pages once and its episode lasts. The expectation over m is taken by Gauss-Hermite
    quadrature.
    """
    total = 0.0
    for x, w in zip(_NODES, _WEIGHTS, strict=True):
        drift = x * math.sqrt(rho) - k
        if drift >= -1e-6:
            total += w
            continue
        total += w * checks / (_arl(drift, 1 - rho, h) + h / -drift)
    return tests * total


REFERENCE_SHIFT = 3.0  # the per-check z of a change the thresholds are tuned to catch fast
H_MAX = 12.0


def budget_for(false_pages_per_year: float, interval_seconds: float, tests: int,
               rho: float = 0.25) -> Budget:
    """Thresholds for a target checked every ``interval_seconds`` with ``tests`` keys a check.

    Among the pairs (K, H) whose expected false pages a year (:func:`pages_per_year`, the
    baseline's offset integrated out) fit in the budget, the one that catches a change of
    per-check score REFERENCE_SHIFT soonest (H / (shift - K) checks). C, the pooled bar, is a
    one-sided normal quantile at budget / (4 x tests).
    """
    # the number of tests is rounded up to a step of a geometric grid, so the (slow) search
    # is cached across checks whose test counts differ a little
    m = max(MIN_TESTS, tests)
    m = int(math.ceil(1.1 ** math.ceil(math.log(m, 1.1))))
    return _budget(float(false_pages_per_year), float(interval_seconds), m,
                   min(0.9, max(0.0, round(rho, 2))))


@functools.lru_cache(maxsize=256)
def _budget(false_pages_per_year: float, interval_seconds: float, m: int,
            rho: float) -> Budget:
    checks = SECONDS_PER_YEAR / max(1.0, interval_seconds)
    best: tuple[float, float, float] | None = None
    k = K
    while k < REFERENCE_SHIFT - 0.25:
        if pages_per_year(H_MAX, k, checks, m, rho) <= false_pages_per_year:
            lo, hi = 0.0, H_MAX
            for _ in range(40):
                mid = (lo + hi) / 2
                if pages_per_year(mid, k, checks, m, rho) > false_pages_per_year:
                    lo = mid
                else:
                    hi = mid
            delay = hi / (REFERENCE_SHIFT - k)
            if best is None or delay < best[0]:
                best = (delay, k, hi)
        k += 0.05
    if best is None:  # an absurd budget for this schedule: the strictest pair considered
        best = (math.inf, REFERENCE_SHIFT - 0.25, H_MAX)
    _, k, h = best
    c = float(_stats.norm.isf(min(0.5, false_pages_per_year / (4 * m))))
    return Budget(h=h, k=k, c=c, checks_per_year=checks, tests=m,
                  false_pages_per_year=false_pages_per_year, rho=rho)


@dataclass
class KeyEvidence:
    """One CUSUM: its value and what it has seen since it was last zero."""

    s: float = 0.0
    n: int = 0
    sum_z: float = 0.0
    sum_effect: float = 0.0
    rho: float = 0.25
    min_effect: float = 0.0
    alarmed: bool = False  # in an alarm episode: it ends when S is back at zero

    def pooled_z(self) -> float:
        if self.n == 0:
            return 0.0
        return (self.sum_z / self.n) / math.sqrt(self.rho + (1 - self.rho) / self.n)

    def mean_effect(self) -> float:
        return self.sum_effect / self.n if self.n else 0.0


@dataclass
class Evidence:
    """Everything carried from one check to the next for one target."""

    baseline_id: int | None = None
    checks: int = 0
    keys: dict[str, KeyEvidence] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"baseline_id": self.baseline_id, "checks": self.checks,
                "keys": {k: asdict(v) for k, v in self.keys.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, baseline_id: int | None) -> Evidence:
        """The stored evidence, or a fresh one when there is none or the baseline changed."""
        if not data or data.get("baseline_id") != baseline_id:
            return cls(baseline_id=baseline_id)
        keys = {k: KeyEvidence(**v) for k, v in (data.get("keys") or {}).items()}
        return cls(baseline_id=baseline_id, checks=int(data.get("checks", 0)), keys=keys)


@dataclass(frozen=True)
class Alarm:
    """A key whose evidence is enough to page, with what the alert says about it."""

    key: str
    direction: int
    evidence: float
    threshold: float
    observations: int
    pooled_z: float
    mean_effect: float


def test_key(t: Comparison, direction: int) -> str:
    """The stable name of one direction of one test (what evidence is stored under)."""
    return "|".join([t.dimension, t.metric, t.suite or "", t.probe or "",
                     "+" if direction > 0 else "-"])


def directions(t: Comparison) -> tuple[int, ...]:
    """The directions that can page: a rise only, for instability and error rates."""
    return (1,) if t.up_only else (1, -1)


def observation(t: Comparison, direction: int, noise_floor: float = 0.0) -> float:
    """The test's score in ``direction``, deflated by the baseline's run-to-run variation.

    The tests treat responses as independent; when the baseline's runs differ more than
    sampling explains (an A/A floor ``2 tau``), each window carries a run-level shift of
    variance tau^2 that the test's p-value does not know about, so z is divided by
    sqrt(1 + tau^2 (1 + 1/R) / sampling variance).
    """
    z = stats.one_sided_z(t.p_value, t.effect, direction, two_sided=not t.up_only,
                          cap=Z_CAP)
    if noise_floor > 0 and t.sampling_var > 0:
        runs = max(1.0, t.n_base / t.n_cur) if t.n_cur else 3.0
        tau2 = (noise_floor / 2) ** 2
        z /= math.sqrt(1 + tau2 * (1 + 1 / runs) / t.sampling_var)
    return z


def baseline_share(t: Comparison) -> float:
    """rho: the baseline's share of the variance of a baseline-vs-window difference."""
    if t.n_base > 0 and t.n_cur > 0:
        return t.n_cur / (t.n_base + t.n_cur)
    return 0.25


def observe(evidence: Evidence, tests: list[Comparison], budget: Budget, *,
            noise: dict[Any, float] | None = None, min_observations: int = 2,
            count_check: bool = True) -> tuple[Evidence, dict[str, Alarm]]:
    """Add one window's tests to the evidence; returns the new evidence and the keys alarming.

    Keys not tested this time decay by K (no news is weak evidence of no change). A
    confirmation round is observed with ``count_check=False``: it adds evidence but is not a
    scheduled check.
    """
    noise = noise or {}
    keys = dict(evidence.keys)
    seen: set[str] = set()
    for t in tests:
        if t.p_value is None:
            continue
        for d in directions(t):
            k = test_key(t, d)
            seen.add(k)
            z = observation(t, d, noise.get(t.key, 0.0))
            cur = keys.get(k, KeyEvidence())
            s = min(cur.s + min(z, Z_CAP) - budget.k, S_CAP * budget.h)
            if s <= 0:
                keys.pop(k, None)
                continue
            keys[k] = KeyEvidence(s=s, n=cur.n + 1, sum_z=cur.sum_z + z,
                                  sum_effect=cur.sum_effect + d * t.effect,
                                  rho=baseline_share(t), min_effect=t.min_effect,
                                  alarmed=cur.alarmed)
    for k in list(keys):
        if k not in seen:
            cur = keys[k]
            if cur.s - budget.k <= 0:
                del keys[k]
            else:
                keys[k] = KeyEvidence(s=cur.s - budget.k, n=cur.n, sum_z=cur.sum_z,
                                      sum_effect=cur.sum_effect, rho=cur.rho,
                                      min_effect=cur.min_effect, alarmed=cur.alarmed)
    for e in keys.values():
        e.alarmed = e.alarmed or _alarms(e, budget, min_observations)
    new = Evidence(baseline_id=evidence.baseline_id,
                   checks=evidence.checks + (1 if count_check else 0), keys=keys)
    return new, alarms(new, budget)


def _alarms(e: KeyEvidence, budget: Budget, min_observations: int) -> bool:
    return (e.s >= budget.h and e.n >= min_observations and e.pooled_z() >= budget.c
            and e.mean_effect() >= ROLLOUT_FLOOR * e.min_effect)


def alarms(evidence: Evidence, budget: Budget) -> dict[str, Alarm]:
    """The keys in an alarm episode (see the module docstring for the rule)."""
    out: dict[str, Alarm] = {}
    for k, e in evidence.keys.items():
        if e.alarmed:
            out[k] = Alarm(key=k, direction=1 if k.endswith("+") else -1, evidence=e.s,
                           threshold=budget.h, observations=e.n, pooled_z=e.pooled_z(),
                           mean_effect=e.mean_effect())
    return out


def near_alarm(evidence: Evidence, budget: Budget, key: str) -> bool:
    """Could one more strong observation make ``key`` alarm? (Worth a confirmation round.)"""
    e = evidence.keys.get(key)
    return e is not None and e.s + (Z_CAP - budget.k) >= budget.h
