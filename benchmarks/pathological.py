"""CPU growth of the features on the 100 KB pathological inputs of tests/features.

    python benchmarks/pathological.py [--repeat 3]

For each input, the CPU time of ``compute_features`` on all of it against eight times its first
eighth (best of ``--repeat``, garbage collection paused): linear work gives about 1, quadratic
about 8. The test (test_100_kb_pathological_inputs_scale_linearly) counts function calls
instead, which a busy machine cannot move; this script also sees quadratic work inside a single
C call (a regex, a ``str`` method), which a call count cannot. CPU time of this process, not
wall-clock, so other processes on the machine matter less; still, read it on a quiet machine.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drift_monitor.features import compute_features  # noqa: E402
from tests.features.test_formatting import PATHOLOGICAL  # noqa: E402

EXPECT = {"format": "json", "json_schema": {"type": "object"}, "max_words": 10,
          "choice": {"pattern": r"\[(Yes|No)\]", "reference": "Yes"}}


def run(text: str) -> None:
    compute_features(text, EXPECT)
    compute_features(text, None)


def best(fn: Callable[[str], None], text: str, times: int, repeat: int) -> float:
    results = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(times):
            fn(text)
        results.append(time.process_time() - start)
    return min(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run("warm up")
    print(f"{'input':18} {'full s':>8} {'8 x 1/8 s':>10} {'growth':>7}")
    for name, text in PATHOLOGICAL.items():
        gc.collect()
        gc.disable()
        try:
            full = best(run, text, 1, args.repeat)
            small = best(run, text[: len(text) // 8], 8, args.repeat)
        finally:
            gc.enable()
        print(f"{name:18} {full:8.3f} {small:10.3f} {full / max(small, 1e-4):7.2f}")


if __name__ == "__main__":
    main()
