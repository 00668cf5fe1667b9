"""The Model Equality Testing peer on the replay null: MMD with a Hamming kernel on completions.

Model Equality Testing (Irena Gao, Percy Liang, Carlos Guestrin, "Model Equality Testing: Which
Model Is This API Serving?", ICLR 2025; PyPI ``model-equality-testing``, MIT, installed with the
`bench` extra: pip install -e '.[bench]') tests "same distribution" with the MMD of a Hamming
kernel between completions, where completions of different prompts never pair (the kernel is 0
across prompts). Here prompts are probes and completions are response texts; the two samples
are a baseline of 3 runs and a window of 1 run, as drift-monitor checks them, on the GPT-3.5
recordings served with realistic noise (``replay_noise.py``).

What we take from the package, and what we had to do differently:

- tokenisation: the package's ``tokenize_unicode`` + ``pad_to_length`` (one token per Unicode
  code point, padded with -1 to L), at L = 1000 characters as in the package's character-level
  dataset example; longer responses are cut to their first 1000 characters (the package's
  padding raises on longer ones). No hub tokenizer is needed or used.
- the statistic: exactly the package's ``mmd_hamming`` (``tests._mmd`` with the Hamming kernel,
  normalised, diagonal removed, pairs across prompts zeroed). It is computed per prompt block
  rather than on the full N x N matrices, which for the opinions suite at 3 samples would need
  13 GB; ``--validate`` checks it equals the package's own value on a subset.
- samples 1: a window with one completion per prompt has no within-window pairs, so the
  package's statistic is 0/0 = nan there (shown by ``--validate``). We drop that term (the
  statistic becomes the baseline's self-similarity minus twice the cross-similarity); the
  permutation null is computed for the same statistic, so the test stays exact.
- the p-value: the package permutes all rows across prompts (``two_sample_permutation_pvalue``,
  Monte Carlo, p = share of permuted statistics >= observed, which can be 0). Our design is
  fixed (every probe has the same counts on each side), so we permute within prompts, which is
  exact for it: the per-prompt terms are enumerated exactly (C(4s, s) splits per probe) and the
  sum is sampled B = 20,000 times, p = (1 + #{T_b >= T}) / (B + 1), valid at any B (sampling
  stops early, Besag-Clifford style, once 100 permuted sums reach the observed one: then
  p >= 0.005 is known well enough for both alphas). The smallest
  p is 5e-5, so alpha = 1.1e-4 (one false page per target-year at an hourly schedule) is
  reachable: it rejects when at most one permuted sum reaches the observed one.
- the import: the package's ``__init__`` imports ``transformers`` (for its dataset loader only),
  so when that is missing its modules are loaded without the ``__init__``.

    python benchmarks/mmd_compare.py             # full run (8 min wall, 3 min CPU, shared 2 cores)
    python benchmarks/mmd_compare.py --quick     # fewer checks, for a smoke test
    python benchmarks/mmd_compare.py --validate  # only the checks against the package itself
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import sys
import time
import types
import warnings
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_noise import SUITES, Recordings, _rng  # noqa: E402

from drift_monitor.detection.samples import Sample  # noqa: E402

L = 1000            # characters per completion (the package's unicode setting)
PERMUTATIONS = 20_000
STOP_HITS = 100     # stop sampling permutations once this many reach the observed statistic
ALPHA_YEAR = 1.1e-4  # one false page per target-year at an hourly schedule
ALPHAS = (0.05, ALPHA_YEAR)


# ---------------------------------------------------------------- the package

@lru_cache(maxsize=1)
def met() -> types.SimpleNamespace:
    """The package's modules we use: utils, distribution, tests, algorithm."""
    try:
        importlib.import_module("model_equality_testing")
    except ImportError as exc:
        if exc.name not in ("transformers", "gdown"):
            raise SystemExit(f"model-equality-testing is not installed ({exc}): "
                             "pip install -e '.[bench]'") from exc
        for name in [m for m in sys.modules if m.startswith("model_equality_testing")]:
            del sys.modules[name]
        spec = importlib.util.find_spec("model_equality_testing")
        assert spec is not None and spec.submodule_search_locations is not None
        pkg = types.ModuleType("model_equality_testing")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["model_equality_testing"] = pkg
    mods = {n: importlib.import_module(f"model_equality_testing.{n}")
            for n in ("utils", "distribution", "tests", "algorithm")}
    return types.SimpleNamespace(**mods)


_TOKENS: dict[str, np.ndarray] = {}


def tokens(text: str) -> np.ndarray:
    """One completion as the package tokenises it: code points, cut/padded to L with -1."""
    row = _TOKENS.get(text)
    if row is None:
        m = met()
        cut = text[:L] or " "
        row = m.utils.pad_to_length(m.utils.tokenize_unicode([cut]), L)[0].astype(np.int32)
        _TOKENS[text] = row
    return row


def completion_samples(base: list[Sample], cur: list[Sample]) -> tuple[Any, Any]:
    """Both sides as the package's ``CompletionSample``s, prompts = the probes they share."""
    m = met()
    prompts = sorted({s.probe for s in base} & {s.probe for s in cur})
    ix = {p: i for i, p in enumerate(prompts)}

    def sample(side: list[Sample]) -> Any:
        rows = [s for s in side if s.ok and s.probe in ix]
        return m.distribution.CompletionSample(
            prompts=np.array([ix[s.probe] for s in rows]),
            completions=np.stack([tokens(s.text or "") for s in rows]).astype(np.int64),
            m=len(prompts))

    return sample(base), sample(cur)


def package_statistic(base: list[Sample], cur: list[Sample]) -> float:
    """The package's own ``mmd_hamming`` on the full matrices (small inputs only)."""
    m = met()
    sample_base, sample_cur = completion_samples(base, cur)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, stat = m.algorithm.run_two_sample_test(sample_base, sample_cur,
                                                  pvalue_type="dummy", stat_type="mmd_hamming")
    return float(stat)


def package_pvalue(base: list[Sample], cur: list[Sample], b: int) -> float:
    """The package's own permutation p-value (rows permuted across prompts, Monte Carlo)."""
    m = met()
    sample_base, sample_cur = completion_samples(base, cur)

    import torch

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _ = m.algorithm.run_two_sample_test(sample_base, sample_cur, b=b,
                                               pvalue_type="permutation_pvalue",
                                               stat_type="mmd_hamming")
    return float(p)


# ---------------------------------------------------------------- the test

@lru_cache(maxsize=64)
def _splits(n: int, k: int) -> np.ndarray:
    """Every way to pick the k window rows among n: a (C, n) 0/1 matrix; the last row is the
    observed split (window rows last)."""
    return np.array([[1.0 if i in c else 0.0 for i in range(n)]
                     for c in itertools.combinations(range(n), k)])


def _terms(base: list[Sample], cur: list[Sample]) -> tuple[list[np.ndarray], float]:
    """Per prompt, the statistic's term under every within-prompt split ((P, C) arrays, one per
    shape of prompt), and the observed statistic."""
    by_b: dict[str, list[str]] = defaultdict(list)
    by_c: dict[str, list[str]] = defaultdict(list)
    for s in base:
        if s.ok:
            by_b[s.probe].append(s.text or "")
    for s in cur:
        if s.ok:
            by_c[s.probe].append(s.text or "")
    prompts = sorted(set(by_b) & set(by_c))
    groups: dict[tuple[int, int], list[str]] = defaultdict(list)
    for p in prompts:
        groups[(len(by_b[p]), len(by_c[p]))].append(p)
    n_xx = sum(nb * (nb - 1) * len(ps) for (nb, _), ps in groups.items())
    n_xy = sum(nb * nc * len(ps) for (nb, nc), ps in groups.items())
    n_yy = sum(nc * (nc - 1) * len(ps) for (_, nc), ps in groups.items())
    out, observed = [], 0.0
    for (nb, nc), ps in groups.items():
        rows = np.stack([np.stack([tokens(t) for t in by_b[p] + by_c[p]]) for p in ps])
        # normalised Hamming kernel: matches / L (every row is padded to L, so K(x, x) = L)
        h = (rows[:, :, None, :] == rows[:, None, :, :]).sum(-1, dtype=np.int32) / L
        y = _splits(nb + nc, nc)
        x = 1.0 - y
        s_xx = np.einsum("ci,pij,cj->pc", x, h, x) - nb
        s_yy = np.einsum("ci,pij,cj->pc", y, h, y) - nc
        s_xy = np.einsum("ci,pij,cj->pc", x, h, y)
        v = -2 * s_xy / n_xy
        if n_xx:
            v = v + s_xx / n_xx
        if n_yy:
            v = v + s_yy / n_yy
        out.append(v)
        observed += float(v[:, -1].sum())
    return out, observed


def mmd_statistic(base: list[Sample], cur: list[Sample]) -> float:
    """The package's mmd_hamming (without the window term when it has no pairs)."""
    return _terms(base, cur)[1]


def mmd_test(base: list[Sample], cur: list[Sample], *, alpha: float, seed: int,
             permutations: int = PERMUTATIONS) -> tuple[bool, float]:
    """(reject, p_value) for "same distribution": prompts = probes, completions = texts,
    per-prompt pairing as in the paper; within-prompt permutation p-value (see the module
    docstring)."""
    terms, observed = _terms(base, cur)
    constant = 0.0
    varying = []
    for v in terms:
        spread = v.max(axis=1) - v.min(axis=1)
        constant += float(v[spread <= 1e-15, 0].sum())
        if (spread > 1e-15).any():
            varying.append(v[spread > 1e-15])
    if not varying:
        return False, 1.0
    rng = np.random.default_rng(seed)
    tol = 1e-12 * max(1.0, abs(observed))
    hits = done = 0
    chunk = 2000
    while done < permutations:
        b = min(chunk, permutations - done)
        total = np.full(b, constant)
        for v in varying:
            idx = rng.integers(v.shape[1], size=(b, v.shape[0]))
            total += np.take_along_axis(v[None, :, :], idx[:, :, None], axis=2)[:, :, 0].sum(1)
        hit = total >= observed - tol
        if hits + int(hit.sum()) >= STOP_HITS:
            # Besag and Clifford's sequential p-value: stop at the STOP_HITS-th permuted sum
            # that reaches the observed one, after l permutations: p = STOP_HITS / l (valid;
            # such a p is far above any alpha used here, so stopping costs no power)
            last = int(np.searchsorted(np.cumsum(hit), STOP_HITS - hits)) + 1
            p = STOP_HITS / (done + last)
            return p <= alpha, p
        hits += int(hit.sum())
        done += b
    p = (1 + hits) / (permutations + 1)
    return p <= alpha, p


# ---------------------------------------------------------------- the benchmark

class Pool:
    """Runs of one suite at one sample count: ``runs`` window run ids, each both as March
    (june_share 0) and as June (june_share 1) with the same noise draws, so a rollout at any
    share is a per-call pick between the two, exactly as ``Recordings.run(june_share=q)``."""

    def __init__(self, rec: Recordings, suite: str, samples: int, runs: int, seed: int,
                 first: int = 1) -> None:
        self.rec, self.suite, self.samples, self.seed = rec, suite, samples, seed
        ids = range(first, first + runs)
        self.march = {r: rec.run(suite, r, samples, seed) for r in ids}
        self.june = {r: rec.run(suite, r, samples, seed, june_share=1.0) for r in ids}

    def window(self, run_id: int, share: float) -> list[Sample]:
        if share <= 0:
            return self.march[run_id]
        if share >= 1:
            return self.june[run_id]
        picked = []
        counts: dict[str, int] = defaultdict(int)
        for m, j in zip(self.march[run_id], self.june[run_id], strict=True):
            i = counts[m.probe]  # the sample index: runs list a probe's samples in order
            counts[m.probe] += 1
            u = _rng(self.seed, run_id, m.probe, i).random()  # the draw run() decides June by
            picked.append(j if u < share else m)
        return picked


def validate(rec: Recordings) -> None:
    print("== validation against the package itself ==")
    keys = set(rec.probes("gpt35-coding")[:20])
    for samples in (2, 3):
        base = [s for r in (1, 2, 3) for s in rec.run("gpt35-coding", r, samples, 1, only=keys)]
        cur = rec.run("gpt35-coding", 4, samples, 1, june_share=0.5, only=keys)
        ours, theirs = mmd_statistic(base, cur), package_statistic(base, cur)
        print(f"  coding, 20 probes, samples {samples}: statistic ours {ours:.9f}, package "
              f"{theirs:.9f} (equal: {abs(ours - theirs) < 1e-9})")
        _, p_ours = mmd_test(base, cur, alpha=0.05, seed=1, permutations=2000)
        p_pkg = package_pvalue(base, cur, b=100)
        print(f"    p-value (50% rollout): ours {p_ours:.4f} (within-prompt, B=2000), package "
              f"{p_pkg:.4f} (across prompts, b=100)")
        null = rec.run("gpt35-coding", 5, samples, 1, only=keys)
        _, p_ours = mmd_test(base, null, alpha=0.05, seed=1, permutations=2000)
        p_pkg = package_pvalue(base, null, b=100)
        print(f"    p-value (null):        ours {p_ours:.4f}, package {p_pkg:.4f}")
    base = [s for r in (1, 2, 3) for s in rec.run("gpt35-coding", r, 1, 1, only=keys)]
    cur = rec.run("gpt35-coding", 4, 1, 1, only=keys)
    print(f"  samples 1: package statistic {package_statistic(base, cur)} (no window pairs), "
          f"ours {mmd_statistic(base, cur):.6f}")
    pool = Pool(rec, "gpt35-primes", 1, 2, seed=3)
    direct = rec.run("gpt35-primes", 2, 1, 3, june_share=0.25)
    mixed = pool.window(2, 0.25)
    same = all(a.text == b.text for a, b in zip(direct, mixed, strict=True))
    print(f"  a 25% rollout built from the March/June pool equals Recordings.run(june_share="
          f"0.25): {same}")


WINDOW_IDS = 100_000  # run ids of the change windows, apart from the null checks' runs


def bench(rec: Recordings, *, null_checks: int, change_checks: int, runs: int) -> None:
    """Every null check has 4 fresh runs of its own (3 baseline, 1 window): checks that share
    runs are correlated, which inflates the spread of a false-alarm count (a first version
    drew 200 checks from 25 shared runs and saw 36/200 at alpha 0.05, against 5% with
    independent checks). Change check k uses null check k's baseline and one of ``runs``
    windows (each built at every share from the same March/June pair)."""
    shares = {"full": 1.0, "25%": 0.25, "10%": 0.10}
    print(f"\n== false alarms ({null_checks} independent null checks) and detections "
          f"({change_checks} checks per change, {runs} distinct windows) per check; baseline "
          f"3 runs, window 1 run; within-prompt permutations, B={PERMUTATIONS} ==")
    head = f"{'suite':16s} {'samples':>7s} {'null@.05':>9s} {'null@1.1e-4':>11s}"
    for name in shares:
        head += f" {name + '@.05':>9s} {name + '@1.1e-4':>12s}"
    print(head)
    for samples in (1, 2, 3):
        for suite in SUITES:
            t0 = time.perf_counter()
            seed = 1000 * samples + SUITES.index(suite)
            pool = Pool(rec, suite, samples, runs, seed=seed, first=WINDOW_IDS)
            counts = {name: np.zeros(len(ALPHAS), int) for name in ("null", *shares)}
            for k in range(null_checks):
                ids = range(4 * k + 1, 4 * k + 5)
                base = [s for r in list(ids)[:3] for s in rec.run(suite, r, samples, seed)]
                window = rec.run(suite, ids[3], samples, seed)
                _, p = mmd_test(base, window, alpha=ALPHAS[0], seed=k)
                counts["null"] += [p <= a for a in ALPHAS]
                if k < change_checks:
                    w = WINDOW_IDS + k % runs
                    for name, share in shares.items():
                        _, p = mmd_test(base, pool.window(w, share), alpha=ALPHAS[0],
                                        seed=10_000 + k)
                        counts[name] += [p <= a for a in ALPHAS]
            line = f"{suite:16s} {samples:7d}"
            n0 = null_checks
            line += f" {counts['null'][0]:4d}/{n0:<4d} {counts['null'][1]:6d}/{n0:<4d}"
            for name in shares:
                c = counts[name]
                line += f" {c[0]:5d}/{change_checks:<3d} {c[1]:8d}/{change_checks:<3d}"
            print(line + f"  ({time.perf_counter() - t0:.0f}s)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer checks (a smoke test)")
    ap.add_argument("--validate", action="store_true", help="only the package checks")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rec = Recordings()
    if args.validate:
        validate(rec)
    else:
        if args.quick:
            bench(rec, null_checks=40, change_checks=10, runs=10)
        else:
            bench(rec, null_checks=200, change_checks=50, runs=25)
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
