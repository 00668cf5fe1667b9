"""analyse(): features compared per suite and paired by probe, on data with known answers."""

from __future__ import annotations

import random

import pytest

from drift_monitor.detection.analysis import analyse, tarone
from drift_monitor.detection.feature_tests import Comparison, aa_noise
from drift_monitor.detection.samples import Sample, Side, edited_probes
from drift_monitor.features import SPECS, compute_features

CODE = "def add(a, b):\n    return a + b"
CHOICE = {"choice": {"pattern": r"\[(Yes|No)\]", "reference": "Yes"}}


def code_answer(rng: random.Random, fence_rate: float) -> str:
    body = CODE if rng.random() < 0.5 else "# adds\n" + CODE
    return f"```python\n{body}\n```" if rng.random() < fence_rate else body


def run(run_id: int, rng: random.Random, *, probes: int = 20, samples: int = 3,
        fence_rate: float = 0.1, yes_rate: float = 0.95, suite: str = "s",
        model: str = "m-1", fail: bool = False) -> list[Sample]:
    out = []
    for p in range(probes):
        for _ in range(samples):
            key = f"{suite}/p{p}@v1"
            if fail:
                out.append(Sample(probe=key, run_id=run_id, ok=False, error_kind="server_error"))
                continue
            if p % 2:
                text = code_answer(rng, fence_rate)
                feats = compute_features(text, None)
            else:
                verdict = "[Yes]" if rng.random() < yes_rate else "[No]"
                text = f"Checking small divisors first. {verdict}"
                feats = compute_features(text, CHOICE)
            out.append(Sample(probe=key, run_id=run_id, ok=True, text=text, features=feats,
                              model_returned=model, latency_ms=rng.uniform(400, 600),
                              finish_reason="stop"))
    return out


def baseline(seed: int, **kw: object) -> Side:
    rng = random.Random(seed)
    return Side([s for r in (1, 2, 3) for s in run(r, rng, **kw)])  # type: ignore[arg-type]


def window(seed: int, **kw: object) -> Side:
    return Side(run(9, random.Random(seed), **kw))  # type: ignore[arg-type]


def metrics(findings: list) -> set[tuple[str, str]]:
    return {(f.dimension, f.metric) for f in findings}


def test_no_change_no_findings() -> None:
    for seed in range(3):
        a = analyse(baseline(seed), window(100 + seed), SPECS)
        assert [f for f in a.findings if f.severity != "info"] == []
        assert a.tests_run > 10


def test_fence_rate_change_is_a_critical_formatting_finding_with_examples() -> None:
    a = analyse(baseline(1), window(2, fence_rate=0.9), SPECS)
    fence = [f for f in a.findings if f.metric == "code_fence_rate"]
    assert len(fence) == 1
    f = fence[0]
    assert f.dimension == "formatting" and f.suite == "s" and f.probe is None
    assert f.severity == "critical" and f.direction == 1
    # half the suite is code: the rate over the suite goes from ~5% to ~45%
    assert f.baseline < 0.15 and f.current > 0.35 and f.q_value < 1e-3
    assert f.examples and f.examples[0]["after"].startswith("```")
    assert not f.examples[0]["before"].startswith("```")
    assert "markdown fences" in f.summary and "in suite s" in f.summary
    assert all(p.startswith("s/p") for p in f.drifted_probes)


def test_answer_flips_are_an_answers_finding() -> None:
    a = analyse(baseline(3), window(4, yes_rate=0.4), SPECS)
    found = metrics(a.findings)
    assert ("answers", "accuracy") in found
    assert ("answers", "answer_mismatch_rate") in found


def test_a_tiny_but_significant_wiggle_is_not_a_finding() -> None:
    """Many samples make a 5-point change significant; the minimum effect keeps it quiet."""
    base = baseline(5, samples=30, fence_rate=0.10)
    cur = window(6, samples=30, fence_rate=0.15)
    a = analyse(base, cur, SPECS)
    assert ("formatting", "code_fence_rate") not in metrics(a.findings)


def test_run_to_run_noise_raises_the_bar() -> None:
    """A baseline whose runs disagree by 20 points sets an A/A floor above a 20-point shift."""
    rng = random.Random(8)
    noisy = Side(run(1, rng, fence_rate=0.1, samples=10) + run(2, rng, fence_rate=0.3,
                                                                samples=10)
                 + run(3, rng, fence_rate=0.5, samples=10))
    floor = aa_noise(noisy, SPECS)[("formatting", "code_fence_rate", "s", None)]
    assert floor > 0.1
    quiet = Side(run(1, rng, samples=10) + run(2, rng, samples=10) + run(3, rng, samples=10))
    assert aa_noise(quiet, SPECS)[("formatting", "code_fence_rate", "s", None)] < floor
    a = analyse(noisy, window(9, fence_rate=0.5, samples=10), SPECS)
    assert ("formatting", "code_fence_rate") not in metrics(a.findings)


def test_suites_are_compared_separately() -> None:
    base = Side(baseline(1).samples + baseline(2, suite="t").samples)
    cur = Side(window(3, fence_rate=0.95).samples + window(4, suite="t").samples)
    fence = [f for f in analyse(base, cur, SPECS).findings if f.metric == "code_fence_rate"]
    assert [f.suite for f in fence] == ["s"]


def test_new_model_string_is_a_metadata_finding_and_context() -> None:
    a = analyse(baseline(1), window(2, model="m-2"), SPECS)
    meta = [f for f in a.findings if f.dimension == "metadata"]
    assert a.model_string_changed
    assert meta and meta[0].metric == "model_returned" and meta[0].current == "m-2"
    quiet = analyse(baseline(1), window(2), SPECS)
    assert not quiet.model_string_changed


def test_window_of_failures_is_operational_not_behaviour() -> None:
    a = analyse(baseline(1), window(2, fail=True), SPECS)
    dims = {f.dimension for f in a.findings}
    assert dims == {"operational"}
    err = [f for f in a.findings if f.metric == "error_rate"][0]
    assert err.current == 1.0 and err.severity == "critical"
    assert any("no successful responses" in n for n in a.notes)


def test_classifier_explains_with_its_top_terms() -> None:
    rng = random.Random(0)
    words_b = ["kindly", "regards", "please", "note"]
    words_c = ["hey", "cool", "awesome", "yeah"]

    def side(run_ids: list[int], words: list[str]) -> list[Sample]:
        return [Sample(probe=f"s/p{p}@v1", run_id=r, ok=True,
                       text=f"Answer {p}: " + " ".join(rng.choice(words) for _ in range(6)),
                       features={}) for r in run_ids for p in range(30) for _ in range(2)]

    a = analyse(Side(side([1, 2, 3], words_b)), Side(side([9], words_c)), {})
    clf = [f for f in a.findings if f.metric == "text_classifier_auc"]
    assert clf and clf[0].current > 0.9
    assert set(clf[0].details["more_now"][:4]) <= set(words_c)
    assert set(clf[0].details["less_now"][:4]) <= set(words_b)


def test_tarone_drops_tests_that_cannot_reach_significance() -> None:
    def t(min_p: float) -> Comparison:
        return Comparison("formatting", "m", "f", "binary", None, 0, 0, 0, 0.5, 0.1, min_p=min_p)

    kept = tarone([t(0.0)] * 5 + [t(0.02)] * 100, 0.05)
    assert len(kept) == 5
    assert len(tarone([t(0.0)] * 5 + [t(0.001)] * 3, 0.05)) == 8


def test_edited_probe_versions_are_named() -> None:
    base = Side([Sample(probe="s/a@v1", run_id=1, ok=True), Sample(probe="s/b@v1", run_id=1,
                                                                     ok=True)])
    cur = Side([Sample(probe="s/a@v2", run_id=2, ok=True), Sample(probe="s/b@v1", run_id=2,
                                                                    ok=True)])
    assert edited_probes(base, cur) == ["a"]


@pytest.mark.parametrize("empty", ["base", "cur"])
def test_empty_sides_give_no_findings_not_a_crash(empty: str) -> None:
    side = baseline(1)
    a = analyse(Side([]) if empty == "base" else side, Side([]) if empty == "cur" else side,
                SPECS)
    assert [f for f in a.findings if f.dimension != "operational"] == []
