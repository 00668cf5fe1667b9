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

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy import stats as _stats

from drift_monitor.detection import stats
from drift_monitor.detection.compare import Comparison

Z_CAP = 8.0  # one check adds at most Z_CAP - K: a single extreme window never pages alone
K = 1.0  # the per-check drift, in z, that the CUSUM tolerates
ROLLOUT_FLOOR = 0.25  # share of the minimum effect a persistent change must reach
SECONDS_PER_YEAR = 365.25 * 86400
MIN_TESTS = 10  # the budget is split over at least this many tests


@dataclass(frozen=True)
class Budget:
    """The thresholds one target's false-page budget buys."""

    h: float  # CUSUM threshold
    c: float  # pooled-z threshold
    checks_per_year: float
    tests: int
    false_pages_per_year: float


def _siegmund_arl(h: float, k: float = K) -> float:
    """Siegmund's approximation of the in-control average run length of a CUSUM with
    N(0, 1) increments, reference value k and threshold h (in checks)."""
    b = h + 1.166
    return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)


def budget_for(false_pages_per_year: float, interval_seconds: float, tests: int) -> Budget:
    """Thresholds for a target checked every ``interval_seconds`` with ``tests`` tests a check.

    Half the budget goes to the window path (per-key run length ``2 x checks x tests /
    budget``), half to the baseline path (``C = z(1 - budget / (4 x tests))``, counted per
    baseline: a baseline is rarely kept for much longer than a year).
    """
    checks = SECONDS_PER_YEAR / max(1.0, interval_seconds)
    m = max(MIN_TESTS, tests)
    arl = 2 * checks * m / false_pages_per_year
    lo, hi = 0.0, 60.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _siegmund_arl(mid) < arl:
            lo = mid
        else:
            hi = mid
    c = float(_stats.norm.isf(min(0.5, false_pages_per_year / (4 * m))))
    return Budget(h=hi, c=c, checks_per_year=checks, tests=m,
                  false_pages_per_year=false_pages_per_year)


@dataclass
class KeyEvidence:
    """One CUSUM: its value and what it has seen since it was last zero."""

    s: float = 0.0
    n: int = 0
    sum_z: float = 0.0
    sum_effect: float = 0.0
    rho: float = 0.25
    min_effect: float = 0.0

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
            s = cur.s + min(z, Z_CAP) - K
            if s <= 0:
                keys.pop(k, None)
                continue
            keys[k] = KeyEvidence(s=s, n=cur.n + 1, sum_z=cur.sum_z + z,
                                  sum_effect=cur.sum_effect + d * t.effect,
                                  rho=baseline_share(t), min_effect=t.min_effect)
    for k in list(keys):
        if k not in seen:
            cur = keys[k]
            if cur.s - K <= 0:
                del keys[k]
            else:
                keys[k] = KeyEvidence(s=cur.s - K, n=cur.n, sum_z=cur.sum_z,
                                      sum_effect=cur.sum_effect, rho=cur.rho,
                                      min_effect=cur.min_effect)
    new = Evidence(baseline_id=evidence.baseline_id,
                   checks=evidence.checks + (1 if count_check else 0), keys=keys)
    return new, alarms(new, budget, min_observations=min_observations)


def alarms(evidence: Evidence, budget: Budget, *,
           min_observations: int = 2) -> dict[str, Alarm]:
    """The keys whose evidence pages now (see the module docstring for the rule)."""
    out: dict[str, Alarm] = {}
    for k, e in evidence.keys.items():
        if (e.s >= budget.h and e.n >= min_observations and e.pooled_z() >= budget.c
                and e.mean_effect() >= ROLLOUT_FLOOR * e.min_effect):
            out[k] = Alarm(key=k, direction=1 if k.endswith("+") else -1, evidence=e.s,
                           threshold=budget.h, observations=e.n, pooled_z=e.pooled_z(),
                           mean_effect=e.mean_effect())
    return out


def near_alarm(evidence: Evidence, budget: Budget, key: str) -> bool:
    """Could one more strong observation make ``key`` alarm? (Worth a confirmation round.)"""
    e = evidence.keys.get(key)
    return e is not None and e.s + (Z_CAP - K) >= budget.h
