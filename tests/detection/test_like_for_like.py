"""Like for like: every statistic is computed the same way on the baseline and the window, so an
unchanged model gives uniform (or conservative) p-values at samples 1, 2 and 3."""

from __future__ import annotations

import numpy as np
import pytest

from drift_monitor.detection.analysis import analyse
from drift_monitor.detection.feature_tests import _indicators, feature_tests, with_presence
from drift_monitor.detection.samples import Sample, Side
from drift_monitor.features import SPECS

NULL_SPECS = {name: SPECS[name] for name in
              ("answer", "has_code_fence", "length_words", "emphasis_count", "refusal")}
PROBES = 30
RUNS = 3


def _model_run(rng: np.random.Generator, run_id: int, samples: int,
               probes: int = PROBES) -> list[Sample]:
    """A nondeterministic model: each probe has its own answer distribution (some stable,
    some wandering between two or three answers), fence habit, length and rare emphasis."""
    out = []
    for p in range(probes):
        yes = 0.55 + 0.44 * ((p * 7) % 10) / 9  # 0.55 .. 0.99
        fence = 0.1 + 0.8 * ((p * 3) % 10) / 9
        for _ in range(samples):
            u = rng.random()
            answer = "Yes" if u < yes else ("No" if u < yes + (1 - yes) * 0.7 else "Maybe")
            feats = {"answer": answer, "has_code_fence": bool(rng.random() < fence),
                     "length_words": int(rng.poisson(40 + p)),
                     "emphasis_count": int(rng.random() < 0.03),
                     "refusal": bool(rng.random() < 0.05)}
            out.append(Sample(probe=f"s/p{p}@v1", run_id=run_id, ok=True, text=answer,
                              features=feats))
    return out


def _null_p_values(samples: int, reps: int, seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {}
    specs = with_presence(NULL_SPECS)
    for _ in range(reps):
        base = Side([s for r in range(1, RUNS + 1) for s in _model_run(rng, r, samples)])
        cur = Side(_model_run(rng, 99, samples))
        for t in feature_tests(base, cur, specs):
            if t.probe is None and t.p_value is not None:
                out.setdefault(t.metric, []).append(float(t.p_value))
    return out


@pytest.mark.parametrize("samples", [1, 2, 3])
def test_unchanged_model_gives_uniform_or_conservative_p_values(samples: int) -> None:
    reps = 400
    ps = _null_p_values(samples, reps, seed=samples)
    assert {"answer_mismatch_rate", "code_fence_rate", "length_words", "uses_emphasis_rate",
            "refusal_rate"} <= set(ps)
    for metric, values in ps.items():
        v = np.array(values)
        # at each level the share of p-values below it must not exceed the level by more
        # than sampling error (binomial, 3 standard errors)
        for level in (0.01, 0.05, 0.2):
            bound = level + 3 * np.sqrt(level * (1 - level) / len(v)) + 1 / len(v)
            assert float(np.mean(v <= level)) <= bound, (metric, samples, level,
                                                         float(np.mean(v <= level)))


@pytest.mark.parametrize("samples", [1, 2, 3])
def test_mismatch_scores_have_equal_expectations_on_both_sides(samples: int) -> None:
    """The old rule compared a baseline sample with the mode of two runs and a current one
    with the mode of three (ties by string order): unchanged targets looked more stable than
    their baseline. The like-for-like scores differ by nothing but noise."""
    rng = np.random.default_rng(10 + samples)
    diffs = []
    for _ in range(300):
        base = [s for r in range(1, RUNS + 1) for s in _model_run(rng, r, samples, probes=10)]
        cur = _model_run(rng, 99, samples, probes=10)
        for p in range(10):
            key = f"s/p{p}@v1"
            b, c = _indicators([s for s in base if s.probe == key],
                               [s for s in cur if s.probe == key], "answer")
            diffs.append(np.mean(c) - np.mean(b))
    d = np.array(diffs)
    se = d.std() / np.sqrt(len(d))
    assert abs(d.mean()) < 3 * se + 1e-3, (d.mean(), se)


def test_a_sample_that_ties_is_not_decided_by_string_order() -> None:
    """Baseline runs answered A, B, A and B twice: a current "A" and a current "B" are equally
    far from the baseline, whatever their alphabetical order."""
    base = [Sample(probe="s/p@v", run_id=r, ok=True, features={"answer": v})
            for r, v in ((1, "B"), (2, "A"), (3, "B"), (4, "A"))]
    for answer in ("A", "B"):
        cur = [Sample(probe="s/p@v", run_id=9, ok=True, features={"answer": answer})]
        _, c = _indicators(base, cur, "answer")
        assert c == [0.5]


def test_a_window_more_stable_than_its_baseline_is_not_a_finding() -> None:
    """Direction: instability pages only when it rises. A window that always gives the
    baseline's majority answer has a lower mismatch rate; that is never a finding."""
    rng = np.random.default_rng(3)
    base = Side([s for r in range(1, RUNS + 1) for s in _model_run(rng, r, 3)])
    steady = [Sample(probe=s.probe, run_id=99, ok=True, text="Yes",
                     features={**s.features, "answer": "Yes"})
              for s in _model_run(rng, 99, 3)]
    analysis = analyse(base, Side(steady), NULL_SPECS, classifier=False)
    assert not [f for f in analysis.findings if f.metric == "answer_mismatch_rate"]
    mismatch = [t for t in analysis.tests if t.metric == "answer_mismatch_rate"
                and t.probe is None]
    assert mismatch and mismatch[0].effect < 0 and mismatch[0].p_value > 0.5


def test_a_window_less_stable_than_its_baseline_is_a_finding() -> None:
    rng = np.random.default_rng(4)
    base = Side([s for r in range(1, RUNS + 1) for s in _model_run(rng, r, 3)])
    wandering = [Sample(probe=s.probe, run_id=99, ok=True, text="x",
                        features={**s.features,
                                  "answer": str(rng.choice(["Yes", "No", "Maybe"]))})
                 for s in _model_run(rng, 99, 3)]
    analysis = analyse(base, Side(wandering), NULL_SPECS, classifier=False)
    assert [f for f in analysis.findings if f.metric == "answer_mismatch_rate"]


def test_errors_falling_is_not_a_finding_and_rising_is() -> None:
    rng = np.random.default_rng(5)
    good = _model_run(rng, 1, 3)
    flaky = [s if i % 3 else Sample(probe=s.probe, run_id=s.run_id, ok=False,
                                    error_kind="server_error")
             for i, s in enumerate(good)]
    fewer = analyse(Side(flaky), Side([Sample(**{**s.__dict__, "run_id": 9}) for s in good]),
                    NULL_SPECS, classifier=False)
    assert not [f for f in fewer.findings if f.metric == "error_rate"]
    more = analyse(Side(good), Side([Sample(**{**s.__dict__, "run_id": 9}) for s in flaky]),
                   NULL_SPECS, classifier=False)
    assert [f for f in more.findings if f.metric == "error_rate"]


def _timed(run_id: int, latency_ms: float, n: int = 30) -> list[Sample]:
    return [Sample(probe=f"s/p{i}@v1", run_id=run_id, ok=True, text="x", features={},
                   latency_ms=latency_ms * (1 + 0.01 * (i % 3))) for i in range(n)]


def test_latency_jitter_of_a_few_milliseconds_is_not_tested_but_a_real_slowdown_is() -> None:
    from drift_monitor.detection.operational import operational_tests

    jitter = operational_tests(Side(_timed(1, 0.4)), Side(_timed(9, 1.2)))
    assert not [t for t in jitter if t.metric == "latency_p50"]  # +200%, but under a ms
    slower = operational_tests(Side(_timed(1, 400)), Side(_timed(9, 900)))
    (t,) = [t for t in slower if t.metric == "latency_p50"]
    assert t.effect > 1.0 and t.p_value is not None and t.p_value < 1e-6
