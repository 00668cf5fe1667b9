"""drift-monitor's check side by side with Evidently's text drift detection.

Evidently (installed only with the `bench` extra: pip install -e '.[bench]') detects text drift
with ValueDrift on a text column: a domain classifier over the raw text. We run both on the
same responses and report agreement (drift or not) and speed.

1. Agreement on the GPT-3.5 March -> June recordings, per suite, and on simulated cases (the
   null and each injected change).
2. Speed on 5,000 + 5,000 responses (a baseline of 3 runs and a window of 1 run from the
   simulated model). For drift-monitor this is the analysis a check runs once responses are
   stored (features are computed when a response is stored, so they are not part of it; the
   one-off feature cost is printed separately). Goal: >= 5x faster than Evidently, < 3 s.

    python benchmarks/evidently_compare.py [--trials 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator import SUITES, Change, baseline_side, simulate_run  # noqa: E402

from drift_monitor.detection.analysis import analyse  # noqa: E402
from drift_monitor.detection.samples import Sample, Side  # noqa: E402
from drift_monitor.features import SPECS, compute_features  # noqa: E402

PAGE = ("warning", "critical")
DATA = Path(__file__).resolve().parent.parent / "drift_monitor" / "data" / "llmdrift_gpt35"


def evidently_report(base_texts: list[str], cur_texts: list[str]) -> float:
    """Evidently's public path: Report([ValueDrift(text column)]); returns its score (the
    domain classifier's ROC AUC for the text content drift methods)."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(text_columns=["text"])
    ref = Dataset.from_pandas(pd.DataFrame({"text": base_texts}), data_definition=definition)
    cur = Dataset.from_pandas(pd.DataFrame({"text": cur_texts}), data_definition=definition)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([ValueDrift(column="text")]).run(cur, ref)
    return float(snapshot.dict()["metrics"][0]["value"])


def evidently_drift(base_texts: list[str], cur_texts: list[str]) -> tuple[bool, float]:
    """Evidently's verdict on a text column: (drift detected, AUC).

    ValueDrift's value is the AUC; the verdict of its default method ("Percentile text content
    drift", threshold 0.95) is AUC above the 95th percentile of a random classifier's AUC,
    which is what this function it calls returns.
    """
    import pandas as pd
    from evidently.legacy.utils.data_drift_utils import calculate_text_drift_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc, drift = calculate_text_drift_score(pd.Series(base_texts), pd.Series(cur_texts),
                                                bootstrap=True, p_value=0.05)
    return bool(drift), float(auc)


def ours(base: Side, cur: Side) -> bool:
    """Page-worthy (warning or critical) findings from one look, without confirmation:
    Evidently has no confirmation step, so both are compared on a single window."""
    return any(f.severity in PAGE and f.dimension != "metadata"
               for f in analyse(base, cur, SPECS).findings)


def gpt35_sides(task: str) -> tuple[Side, Side]:
    rows = [json.loads(line) for line in (DATA / f"{task}.jsonl").open(encoding="utf-8")]
    expect = ({"choice": {"pattern": r"\[(Yes|No)\]", "reference": "Yes"}}
              if task == "prime_numbers" else None)
    sides: dict[str, list[Sample]] = {"2023-03": [], "2023-06": []}
    for r in rows:
        run = 1 if r["snapshot"] == "2023-03" else 9
        sides[r["snapshot"]].append(Sample(
            probe=f"{task}/{r['prompt_id']}@v1", run_id=run, ok=True, text=r["response"],
            features=compute_features(r["response"], expect)))
    return Side(sides["2023-03"]), Side(sides["2023-06"])


def texts(side: Side) -> list[str]:
    return [s.text or "" for s in side.ok]


def agreement(trials: int) -> None:
    print("== 1. Agreement (drift flagged or not, one window, no confirmation) ==")
    rows = []
    for task in ("leetcode_easy", "sensitive_questions", "prime_numbers", "opinion_survey"):
        b, c = gpt35_sides(task)
        ev, score = evidently_drift(texts(b), texts(c))
        us = ours(b, c)
        rows.append(us == ev)
        print(f"  gpt35 {task:20s} drift-monitor={'drift' if us else 'none':5s}  "
              f"evidently={'drift' if ev else 'none':5s} (score {score:.3f})")
    cases = {"null": Change(), "refusal +15 points": Change(refusal_points=0.15),
             "fenced code +30 points": Change(fence_points=0.30),
             "length x1.5": Change(length_factor=1.5), "20% answer flips": Change(flip_rate=0.2)}
    for name, change in cases.items():
        us_n = ev_n = agree = 0
        for i in range(trials):
            b = baseline_side(3, seed=70_000 + i)
            c = Side(simulate_run(99, 3, seed=80_000 + i, change=change))
            us = ours(b, c)
            ev, _ = evidently_drift(texts(b), texts(c))
            us_n += us
            ev_n += ev
            agree += us == ev
            rows.append(us == ev)
        print(f"  simulated {name:24s} drift-monitor flags {us_n}/{trials}, evidently "
              f"{ev_n}/{trials}, agree {agree}/{trials}")
    print(f"  overall agreement: {sum(rows)}/{len(rows)} = {sum(rows) / len(rows):.0%}")


def speed() -> None:
    print("\n== 2. Speed on 5,000 + 5,000 responses ==")
    base = Side([s for r in range(3) for s in simulate_run(r + 1, 21, seed=9_000 + r)])
    cur = Side(simulate_run(9, 63, seed=9_100, change=Change(fence_points=0.3)))
    print(f"  baseline {len(base.samples)} responses in 3 runs, window {len(cur.samples)} "
          f"in 1 run, {len(SUITES)} suites")
    analyse(base, cur, SPECS)  # warm imports and caches
    t0 = time.perf_counter()
    result = analyse(base, cur, SPECS)
    t_ours = time.perf_counter() - t0
    b_texts, c_texts = texts(base), texts(cur)
    evidently_report(b_texts[:200], c_texts[:200])  # warm imports
    t0 = time.perf_counter()
    evidently_report(b_texts, c_texts)
    t_ev = time.perf_counter() - t0
    sample_texts = sorted({s.text or "" for s in cur.samples})[:500]
    t0 = time.perf_counter()
    for t in sample_texts:
        compute_features(t, None)
    per_response = (time.perf_counter() - t0) / len(sample_texts)
    print(f"  drift-monitor analysis: {t_ours:.2f}s ({result.tests_run} tests, "
          f"{len(result.findings)} findings)")
    print(f"  evidently ValueDrift(text): {t_ev:.2f}s")
    print(f"  speed-up: {t_ev / t_ours:.1f}x (goal >= 5x; ours goal < 3 s)")
    print(f"  (features, computed once when responses are stored: {per_response * 1000:.2f} ms "
          f"per response, {per_response * 10_000:.1f}s for 10,000)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    agreement(args.trials)
    speed()


if __name__ == "__main__":
    main()
