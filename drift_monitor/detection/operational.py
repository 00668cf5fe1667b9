"""Operational and metadata comparisons: errors, latency, truncation, model strings."""

from __future__ import annotations

import numpy as np

from drift_monitor.detection import stats
from drift_monitor.detection.feature_tests import Comparison
from drift_monitor.detection.findings import MIN_EFFECT
from drift_monitor.detection.samples import Side

MIN_LATENCY_MS = 50.0
TRUNCATED = {"length", "max_tokens", "MAX_TOKENS", "model_context_window_exceeded",
             "max_output_tokens"}
FILTERED = "content_filter"  # ErrorKind.CONTENT_FILTER


def operational_tests(base: Side, cur: Side) -> list[Comparison]:
    """Error rate, median latency and truncation rate, pooled over the suite."""
    tests: list[Comparison] = []
    nb, nc = len(base.samples), len(cur.samples)
    if nb and nc:
        fb = sum(not s.ok and s.error_kind != FILTERED for s in base.samples)
        fc = sum(not s.ok and s.error_kind != FILTERED for s in cur.samples)
        kinds: dict[str, int] = {}
        for s in cur.samples:
            if not s.ok and s.error_kind:
                kinds[s.error_kind] = kinds.get(s.error_kind, 0) + 1
        tests.append(Comparison(
            dimension="operational", metric="error_rate", feature="error_rate",
            kind="binary", probe=None, baseline=fb / nb, current=fc / nc,
            effect=fc / nc - fb / nb,
            p_value=stats.fisher_p(fb, nb, fc, nc, alternative="greater"),
            min_effect=MIN_EFFECT["error_rate"], description="failed calls",
            details={"failures_by_kind": kinds}, up_only=True, n_base=nb, n_cur=nc))
        # a platform content filter (Azure) withholding answers: its own rate, so a stricter
        # filter reads as what it is rather than as an outage; like errors, only a rise pages
        xb = sum(s.error_kind == FILTERED for s in base.samples)
        xc = sum(s.error_kind == FILTERED for s in cur.samples)
        if xb or xc:
            tests.append(Comparison(
                dimension="operational", metric="filtered_rate", feature="error_kind",
                kind="binary", probe=None, baseline=xb / nb, current=xc / nc,
                effect=xc / nc - xb / nb,
                p_value=stats.fisher_p(xb, nb, xc, nc, alternative="greater"),
                min_effect=MIN_EFFECT["error_rate"], up_only=True, n_base=nb, n_cur=nc,
                description="answers withheld by the provider's content filter"))
    lb = [s.latency_ms for s in base.ok if s.latency_ms is not None]
    lc = [s.latency_ms for s in cur.ok if s.latency_ms is not None]
    if len(lb) >= 5 and len(lc) >= 5:
        mb, mc = float(np.median(lb)), float(np.median(lc))
        # a median that moved by less than MIN_LATENCY_MS is jitter, whatever its ratio
        # (a loopback server's 0.3 ms -> 1 ms is +200% and means nothing)
        if mb > 0 and abs(mc - mb) >= MIN_LATENCY_MS:
            tests.append(Comparison(
                dimension="operational", metric="latency_p50", feature="latency_ms",
                kind="continuous", probe=None, baseline=mb, current=mc, effect=mc / mb - 1,
                p_value=stats.mann_whitney_p(lb, lc), min_effect=MIN_EFFECT["latency_p50"],
                relative=True, description="median latency in ms", n_base=len(lb),
                n_cur=len(lc)))
    ok_b, ok_c = base.ok, cur.ok
    if ok_b and ok_c:
        tb = sum(s.finish_reason in TRUNCATED for s in ok_b)
        tc = sum(s.finish_reason in TRUNCATED for s in ok_c)
        tests.append(Comparison(
            dimension="operational", metric="truncation_rate", feature="finish_reason",
            kind="binary", probe=None, baseline=tb / len(ok_b), current=tc / len(ok_c),
            effect=tc / len(ok_c) - tb / len(ok_b),
            p_value=stats.fisher_p(tb, len(ok_b), tc, len(ok_c)),
            min_effect=MIN_EFFECT["truncation_rate"],
            description="answers cut off by the token limit", n_base=len(ok_b),
            n_cur=len(ok_c)))
    return tests


def metadata_changes(base: Side, cur: Side) -> list[tuple[str, list[str], list[str]]]:
    """(field, baseline values, current values) for model strings and fingerprints that are
    new in the window."""
    out = []
    for field in ("model_returned", "fingerprint"):
        before = sorted({getattr(s, field) for s in base.ok if getattr(s, field)})
        after = sorted({getattr(s, field) for s in cur.ok if getattr(s, field)})
        if before and after and set(after) - set(before):
            out.append((field, before, after))
    return out
