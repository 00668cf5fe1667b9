"""A platform content filter (Azure) is an outcome of its own: its rate is an operational
finding, filtered calls are never behaviour samples and never read as an outage."""

from __future__ import annotations

import random

from drift_monitor.detection.analysis import analyse
from drift_monitor.detection.samples import Sample, Side
from drift_monitor.features import SPECS, compute_features


def _side(run_ids: list[int], filtered_share: float, seed: int) -> Side:
    rng = random.Random(seed)
    out = []
    for run_id in run_ids:
        for p in range(20):
            for _ in range(3):
                key = f"s/p{p}@v1"
                if rng.random() < filtered_share:
                    out.append(Sample(probe=key, run_id=run_id, ok=False,
                                      error_kind="content_filter"))
                    continue
                text = f"Here is the answer to question {p}."
                out.append(Sample(probe=key, run_id=run_id, ok=True, text=text,
                                  features=compute_features(text, None), model_returned="m",
                                  latency_ms=rng.uniform(400, 600), finish_reason="stop"))
    return Side(out)


def test_a_stricter_content_filter_is_an_operational_filtered_rate_finding_not_an_error_rate(
        ) -> None:
    a = analyse(_side([1, 2, 3], 0.0, 1), _side([9], 0.4, 2), SPECS, classifier=False)
    found = {(f.dimension, f.metric): f for f in a.findings}
    assert ("operational", "filtered_rate") in found
    rate = found[("operational", "filtered_rate")]
    assert rate.baseline == 0 and 0.25 < float(rate.current) < 0.55
    assert rate.direction == 1
    # filtered calls are not failures of the service and not samples of behaviour
    assert ("operational", "error_rate") not in found
    assert {d for d, _ in found} == {"operational"}


def test_a_steady_filtered_rate_is_no_finding() -> None:
    a = analyse(_side([1, 2, 3], 0.1, 3), _side([9], 0.1, 4), SPECS, classifier=False)
    assert [f for f in a.findings if f.metric in ("filtered_rate", "error_rate")] == []
