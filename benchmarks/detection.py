"""Detection quality: real drift, the null, and power. Prints a report; writes nothing.

1. The GPT-3.5 March -> June 2023 recordings through the replay provider: per suite, flagged
   or not, in which dimensions, with how many responses per side.
2. The null: a simulated nondeterministic model checked against its own baseline many times;
   the false alarm rate counts checks with a confirmed, page-worthy finding.
3. Power: injected changes against samples per probe; the smallest sample count that reaches
   90% detection (confirmed, in the right dimension).

    python benchmarks/detection.py                # full run (several minutes on 2 cores)
    python benchmarks/detection.py --quick        # smaller counts, for a smoke test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator import Change, baseline_side, simulate_run  # noqa: E402

from drift_monitor.detection.analysis import analyse, reconfirm  # noqa: E402
from drift_monitor.detection.samples import Side  # noqa: E402
from drift_monitor.features import SPECS  # noqa: E402

PAGE = ("warning", "critical")
CHANGES = {
    "refusal +15 points": (Change(refusal_points=0.15), "tone"),
    "fenced code +30 points": (Change(fence_points=0.30), "formatting"),
    "length x1.5": (Change(length_factor=1.5), "formatting"),
    "20% answer flips": (Change(flip_rate=0.20), "answers"),
}


CONFIRM_FACTOR = 1
ONLY: list[str] = []


def confirmed_pages(base: Side, window: Side, samples: int, seed: int,
                    change: Change) -> list:
    """Page-worthy findings after an immediate confirmation round of the drifted probes."""
    first = [f for f in analyse(base, window, SPECS).findings
             if f.severity in PAGE and f.dimension != "metadata"]
    if not first:
        return []
    probes = {p for f in first for p in f.drifted_probes}
    if not probes:
        return []
    conf = Side(simulate_run(900, samples * CONFIRM_FACTOR, seed + 777_777, change,
                             probes=probes))
    shown = reconfirm(base, conf, first, SPECS)
    return [f for f, ok in zip(first, shown, strict=True) if ok]


def gpt35() -> None:
    import asyncio
    import shutil
    from importlib import resources

    from drift_monitor.config import load_config
    from drift_monitor.demo import SUITES, _write  # reuse the demo's config
    from drift_monitor.detection.check import check_target, make_confirm_round
    from drift_monitor.runner import probe_round
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    print("== 1. GPT-3.5 March -> June 2023 (replay, 1 sample per probe, baseline = 3 March "
          "runs) ==")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "probes").mkdir()
        for item in (resources.files("drift_monitor") / "templates" / "probes").iterdir():
            if item.name.endswith(".yaml"):
                with resources.as_file(item) as src:
                    shutil.copyfile(src, d / "probes" / item.name)
        config = load_config(_write(d, "2023-03"))
        library = config.load_probes()
        target = config.target("gpt35")
        engine = make_engine(config.database_url)
        ensure_schema(engine)
        store = Store(engine)
        for _ in range(3):
            asyncio.run(probe_round(config, target, store, library.select(SUITES)))
        config = load_config(_write(d, "2023-06"))
        target = config.target("gpt35")
        asyncio.run(probe_round(config, target, store, library.select(SUITES)))
        t0 = time.perf_counter()
        result = check_target(config, target, store,
                              confirm_round=make_confirm_round(config, target, store, library))
        elapsed = time.perf_counter() - t0
        engine.dispose()
    per_suite: dict[str, list] = defaultdict(list)
    for f in result.findings:
        per_suite[f.suite or "(target)"].append(f)
    sizes = {s: len(library.suites[s].probes) for s in SUITES}
    for suite in SUITES:
        fs = [f for f in per_suite.get(suite, []) if f.confirmed and f.severity in PAGE]
        dims = sorted({f.dimension for f in fs})
        worst = max((f.severity for f in fs), key=PAGE.index, default="-")
        print(f"  {suite:16s} flagged={'yes' if fs else 'no ':3s} worst={worst:8s} "
              f"dimensions={','.join(dims) or '-':28s} responses per side: baseline "
              f"{3 * sizes[suite]}, window {sizes[suite]}")
        for f in fs:
            print(f"      [{f.severity}] {f.dimension}/{f.metric}: {f.summary[:110]}")
    print(f"  check took {elapsed:.1f}s (including the confirmation round)")


def null(checks: int, samples: int) -> None:
    print(f"\n== 2. The null: {checks} checks of a simulated model against its own baseline "
          f"({samples} samples per probe, 80 probes in 4 suites, baseline 3 runs, window 1 run) ==")
    candidates = alarms = 0
    by_metric: dict[str, int] = defaultdict(int)
    t0 = time.perf_counter()
    for i in range(checks):
        base = baseline_side(samples, seed=i)
        window = Side(simulate_run(99, samples, seed=10_000_000 + i))
        first = [f for f in analyse(base, window, SPECS).findings
                 if f.severity in PAGE and f.dimension != "metadata"]
        candidates += bool(first)
        pages = confirmed_pages(base, window, samples, i, Change()) if first else []
        if pages:
            alarms += 1
            for f in pages:
                by_metric[f"{f.dimension}/{f.metric}"] += 1
    elapsed = time.perf_counter() - t0
    print(f"  unconfirmed candidates: {candidates}/{checks} = {candidates / checks:.2%} of checks")
    print(f"  false alarms (confirmed, page-worthy): {alarms}/{checks} = {alarms / checks:.2%}"
          f"  (goal <= 1%)")
    if by_metric:
        print("  by metric: " + ", ".join(f"{k} {v}" for k, v in sorted(by_metric.items())))
    print(f"  {elapsed / checks * 1000:.0f} ms per check")


def power(trials: int, sample_counts: list[int]) -> None:
    print(f"\n== 3. Power: detection rate (confirmed, right dimension) over {trials} trials ==")
    print("  " + "change".ljust(26) + "".join(f"samples={n:<4d}" for n in sample_counts)
          + "  smallest for 90%")
    for name, (change, dimension) in CHANGES.items():
        if ONLY and name not in ONLY:
            continue
        rates = []
        for n in sample_counts:
            hits = 0
            for i in range(trials):
                seed = 50_000_000 + i
                base = baseline_side(n, seed=seed)
                window = Side(simulate_run(99, n, seed=seed + 1, change=change))
                pages = confirmed_pages(base, window, n, seed, change)
                hits += any(f.dimension == dimension for f in pages)
            rates.append(hits / trials)
        smallest = next((n for n, r in zip(sample_counts, rates, strict=True) if r >= 0.9), None)
        print("  " + name.ljust(26) + "".join(f"{r:<12.0%}" for r in rates)
              + f"  {smallest if smallest else '> ' + str(sample_counts[-1])}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts for a smoke test")
    ap.add_argument("--null-checks", type=int, default=1000)
    ap.add_argument("--power-trials", type=int, default=50)
    ap.add_argument("--skip-gpt35", action="store_true")
    ap.add_argument("--confirm-factor", type=int, default=1,
                    help="samples per probe in the confirmation round, times the target's")
    ap.add_argument("--only", default="", help="comma-separated change names for the power part")
    ap.add_argument("--samples", default="1,2,3,5,10,20", help="power: samples per probe")
    args = ap.parse_args()
    global CONFIRM_FACTOR, ONLY
    CONFIRM_FACTOR = args.confirm_factor
    ONLY = [s for s in args.only.split(",") if s]
    if args.quick:
        args.null_checks, args.power_trials = 50, 10
    if not args.skip_gpt35:
        gpt35()
    if args.null_checks:
        null(args.null_checks, samples=3)
    if args.power_trials:
        power(args.power_trials, [int(n) for n in args.samples.split(",")])


if __name__ == "__main__":
    main()
