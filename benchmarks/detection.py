"""Detection quality over time: real drift, the null on real recordings, partial rollouts,
sparse changes and power. Prints a report; writes nothing.

Every check goes through ``drift_monitor.detection.decide.decide``, the function ``check`` and
the daemon call: the analysis, the sequential evidence carried from check to check, the
false-page budget (1 a year at an hourly schedule, the default) and the confirmation round
(a new run of the suites whose candidates could alarm). Only the database is left out.

1. GPT-3.5 March -> June 2023 through the replay provider and ``check`` itself (database,
   confirmation round): per suite, paged or not, in which dimensions.
2. The replay null: the GPT-3.5 March recordings with realistic noise (30% reworded, 10% of
   answers wandering; benchmarks/replay_noise.py), 3 baseline runs, then a series of 1-run
   windows with the evidence carried, at samples 1, 2 and 3. False pages per check and per
   target-year at an hourly schedule.
3. The full update, partial rollouts (a share of calls answered from June) and a sparse change
   (emphasis on 15% of an 80-probe suite): detection delay in rounds.
4. The simulator (benchmarks/simulator.py): its null, and power as delay in rounds.

    python benchmarks/detection.py                # full run (about an hour on 2 cores)
    python benchmarks/detection.py --quick        # smaller counts, for a smoke test
    python benchmarks/detection.py --only null    # one part: gpt35, null, rollout, sparse, sim
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_noise import SUITES as REPLAY_SUITES  # noqa: E402
from replay_noise import Recordings, emphasis_suite_run  # noqa: E402
from simulator import Change, baseline_side, simulate_run  # noqa: E402

from drift_monitor.detection.decide import PAGE_SEVERITIES, decide  # noqa: E402
from drift_monitor.detection.samples import Sample, Side  # noqa: E402
from drift_monitor.detection.sequential import Evidence  # noqa: E402
from drift_monitor.features import SPECS  # noqa: E402

HOURLY = 3600.0
HOURS_PER_YEAR = 8766
CHANGES = {
    "refusal +15 points": (Change(refusal_points=0.15), "tone"),
    "fenced code +30 points": (Change(fence_points=0.30), "formatting"),
    "length x1.5": (Change(length_factor=1.5), "formatting"),
    "20% answer flips": (Change(flip_rate=0.20), "answers"),
}

RunFn = Callable[[int, set[str] | None], list[Sample]]


def paged(decision: object, already: set[tuple[str, str, str | None]]) -> set:
    """The (dimension, metric, suite) keys this check pages that the last check did not."""
    now = {(f.dimension, f.metric, f.suite) for f in decision.findings  # type: ignore[attr-defined]
           if f.confirmed and f.severity in PAGE_SEVERITIES and f.dimension != "metadata"}
    return now - already


def series(base: Side, run: RunFn, rounds: int, *, stop_at_page: bool) -> list[tuple[int, set]]:
    """Checks of ``rounds`` windows against ``base`` with the evidence carried, as the daemon
    does. ``run(run_id, probes)`` makes a window (probes None) or a confirmation round.
    Returns (round, newly paged keys) for every round that paged."""
    evidence = Evidence(baseline_id=1)
    pages: list[tuple[int, set]] = []
    open_now: set = set()
    next_id = 100

    for r in range(1, rounds + 1):
        next_id += 1
        cur = Side(run(next_id, None))

        def confirm(probes: list[str]) -> Side | None:
            nonlocal next_id
            next_id += 1
            return Side(run(next_id, set(probes)))

        d = decide(base, cur, evidence, SPECS, false_pages_per_year=1.0,
                   interval_seconds=HOURLY, confirm=confirm)
        evidence = d.evidence
        new = paged(d, open_now)
        open_now = {(f.dimension, f.metric, f.suite) for f in d.findings
                    if f.confirmed and f.severity in PAGE_SEVERITIES}
        if new:
            pages.append((r, new))
            if stop_at_page:
                break
    return pages


def replay_side(rec: Recordings, suite: str, samples: int, seed: int) -> Side:
    return Side([s for r in (1, 2, 3) for s in rec.run(suite, r, samples, seed)])


def gpt35() -> None:
    import asyncio
    import shutil
    import tempfile
    from importlib import resources

    from drift_monitor.app.checks import run_check
    from drift_monitor.app.demo import SUITES, _write  # reuse the demo's config
    from drift_monitor.app.rounds import confirm_round
    from drift_monitor.config import load_config
    from drift_monitor.runner import probe_round
    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store

    print("== 1. GPT-3.5 March -> June 2023 through `check` (replay, 1 sample per probe, "
          "baseline = 3 March runs) ==")
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
        result = run_check(config, target, store,
                           confirm=confirm_round(config, target, store,
                                                 library.select(SUITES)))
        elapsed = time.perf_counter() - t0
        engine.dispose()
    per_suite: dict[str, list] = defaultdict(list)
    for f in result.findings:
        per_suite[f.suite or "(target)"].append(f)
    for suite in SUITES:
        fs = [f for f in per_suite.get(suite, []) if f.confirmed and f.severity in
              PAGE_SEVERITIES]
        dims = sorted({f.dimension for f in fs})
        worst = max((f.severity for f in fs), key=PAGE_SEVERITIES.index, default="-")
        print(f"  {suite:16s} paged={'yes' if fs else 'no ':3s} worst={worst:8s} "
              f"dimensions={','.join(dims) or '-'}")
        for f in sorted(fs, key=lambda f: f.severity != "critical")[:4]:
            print(f"      [{f.severity}] {f.dimension}/{f.metric}: {f.summary[:100]}")
    print(f"  check took {elapsed:.1f}s (including the confirmation round)")


def replay_null(rec: Recordings, samples_list: list[int], baselines: int,
                rounds: int, seed0: int = 0) -> None:
    print(f"\n== 2. Replay null: GPT-3.5 March with noise (30% reworded, 10% answers "
          f"wandering), {baselines} baselines x {rounds} hourly checks per suite, evidence "
          f"carried, confirmation as `check` does it ==")
    for samples in samples_list:
        t0 = time.perf_counter()
        checks = pages = 0
        by_metric: dict[str, int] = defaultdict(int)
        for suite in REPLAY_SUITES:
            for b in range(baselines):
                seed = 1000 * samples + 17 * b + REPLAY_SUITES.index(suite) + 100_000 * seed0
                base = replay_side(rec, suite, samples, seed)

                def run(run_id: int, probes: set[str] | None, suite: str = suite,
                        seed: int = seed, samples: int = samples) -> list[Sample]:
                    return rec.run(suite, run_id, samples, seed, only=probes)

                got = series(base, run, rounds, stop_at_page=False)
                checks += rounds
                for _, keys in got:
                    pages += 1
                    for k in keys:
                        by_metric[f"{k[0]}/{k[1]}"] += 1
        rate = pages / checks
        upper = (3.0 if pages == 0 else pages + 2 * math.sqrt(pages)) / checks
        print(f"  samples={samples}: {pages} false pages in {checks} checks = {rate:.2e} per "
              f"check = {rate * HOURS_PER_YEAR:.2f} per target-year hourly (95% upper "
              f"bound {upper * HOURS_PER_YEAR:.1f}); "
              f"{(time.perf_counter() - t0) / checks * 1000:.0f} ms per check")
        if by_metric:
            print("    by metric: " + ", ".join(f"{k} {v}" for k, v in sorted(by_metric.items())))


def delays(base_fn: Callable[[int], Side], run_fn: Callable[[int], RunFn], trials: int,
           rounds: int) -> list[int | None]:
    out: list[int | None] = []
    for i in range(trials):
        got = series(base_fn(i), run_fn(i), rounds, stop_at_page=True)
        out.append(got[0][0] if got else None)
    return out


def describe_delays(ds: list[int | None], rounds: int) -> str:
    hit = [d for d in ds if d is not None]
    if not hit:
        return f"never within {rounds} rounds (0/{len(ds)})"
    med = statistics.median([d if d is not None else rounds + 1 for d in ds])
    return (f"caught {len(hit)}/{len(ds)}, median delay {med:g} round(s), "
            f"worst {max(hit) if len(hit) == len(ds) else f'>{rounds}'}")


def rollouts(rec: Recordings, shares: list[float], samples: int, trials: int,
             rounds: int) -> None:
    print(f"\n== 3. Full update and partial rollouts at samples={samples}: delay in rounds "
          f"(a round is a window and, when worth it, its confirmation round), {trials} trials "
          f"per suite ==")
    for share in shares:
        print(f"  june_share={share:.0%}:")
        for suite in REPLAY_SUITES:
            def base_fn(i: int, suite: str = suite) -> Side:
                return replay_side(rec, suite, samples, 5000 + i)

            def run_fn(i: int, suite: str = suite, share: float = share) -> RunFn:
                return lambda rid, probes: rec.run(suite, rid, samples, 5000 + i,
                                                   june_share=share, only=probes)

            ds = delays(base_fn, run_fn, trials, rounds)
            print(f"    {suite:16s} {describe_delays(ds, rounds)}")


def sparse(samples: int, trials: int, rounds: int, null_rounds: int) -> None:
    print(f"\n== 3b. Sparse change: emphasis on 15% of an 80-probe open-ended suite (about "
          f"1% -> 14% of answers), samples={samples}, {trials} trials ==")

    def base_fn(i: int) -> Side:
        return Side([s for r in (1, 2, 3) for s in emphasis_suite_run(r, samples, 7000 + i,
                                                                      changed=False)])

    def run_fn(i: int, changed: bool = True) -> RunFn:
        def run(rid: int, probes: set[str] | None) -> list[Sample]:
            out = emphasis_suite_run(rid, samples, 7000 + i, changed=changed)
            return [s for s in out if probes is None or s.probe in probes]
        return run

    print(f"  changed: {describe_delays(delays(base_fn, run_fn, trials, rounds), rounds)}")
    pages = sum(len(series(base_fn(i), run_fn(i, changed=False), null_rounds,
                           stop_at_page=False)) for i in range(max(1, trials // 2)))
    print(f"  unchanged: {pages} pages in {max(1, trials // 2) * null_rounds} checks")


def simulator(trials: int, null_baselines: int, null_rounds: int, samples_list: list[int],
              rounds: int) -> None:
    print(f"\n== 4. Simulator: null ({null_baselines} baselines x {null_rounds} checks at "
          f"samples 3) and power as delay in rounds ({trials} trials) ==")

    def sim_run(i: int, samples: int, change: Change) -> RunFn:
        return lambda rid, probes: simulate_run(rid, samples, 10_000_000 + 1000 * i + rid,
                                                change, probes=probes)

    pages = sum(len(series(baseline_side(3, seed=i), sim_run(i, 3, Change()), null_rounds,
                           stop_at_page=False)) for i in range(null_baselines))
    checks = null_baselines * null_rounds
    print(f"  null: {pages} false pages in {checks} checks = "
          f"{pages / checks * HOURS_PER_YEAR:.2f} per target-year hourly")
    for name, (change, dimension) in CHANGES.items():
        cells = []
        for n in samples_list:
            ds = []
            for i in range(trials):
                got = series(baseline_side(n, seed=50_000 + i), sim_run(50_000 + i, n, change),
                             rounds, stop_at_page=False)
                first = next((r for r, keys in got if any(k[0] == dimension for k in keys)),
                             None)
                ds.append(first)
            cells.append(f"samples={n}: {describe_delays(ds, rounds)}")
        print(f"  {name:24s} " + "; ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts for a smoke test")
    ap.add_argument("--only", default="", help="comma-separated parts: gpt35, null, rollout, "
                                               "sparse, sim")
    ap.add_argument("--null-baselines", type=int, default=5)
    ap.add_argument("--null-rounds", type=int, default=100)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--samples", default="1,2,3", help="samples per probe for the null")
    ap.add_argument("--seed", type=int, default=0, help="replay null: a fresh set of seeds")
    args = ap.parse_args()
    parts = set(args.only.split(",")) if args.only else {"gpt35", "null", "rollout", "sparse",
                                                         "sim"}
    if args.quick:
        args.null_baselines, args.null_rounds, args.trials = 1, 10, 2
    samples_list = [int(n) for n in args.samples.split(",")]
    rec = Recordings() if parts & {"null", "rollout"} else None
    if "gpt35" in parts:
        gpt35()
    if "null" in parts and rec is not None:
        replay_null(rec, samples_list, args.null_baselines, args.null_rounds, args.seed)
    if "rollout" in parts and rec is not None:
        rollouts(rec, [1.0, 0.25, 0.10], 1, args.trials, 8 if args.quick else 10)
    if "sparse" in parts:
        sparse(1, args.trials, 4, 10 if args.quick else 50)
    if "sim" in parts:
        simulator(args.trials, args.null_baselines, args.null_rounds, [1, 3], 6)


if __name__ == "__main__":
    main()
