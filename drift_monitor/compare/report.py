"""What ``compare`` reports: where a candidate target behaves differently from a pinned one.

Built from the same analysis a check runs (detection.analysis.analyse), with the pinned target's
answers as the baseline and the candidate's as the window, plus what a check does not need:
the pass rate of the probes' expectations on each side, cost per 1,000 probes, latency p50/p95
and tokens, and a plain verdict: what the candidate fixes, what it breaks, what it costs.

Whether a change is a fix or a break is decided per metric (:data:`BETTER_WHEN`): higher
accuracy or format compliance is better, a higher error rate worse. Changes without a direction
of their own (more code fences, a different refusal rate, longer answers) are listed as changes
to review: whether more refusals is good depends on what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drift_monitor.config import TargetConfig
from drift_monitor.detection.findings import Finding
from drift_monitor.detection.samples import Side
from drift_monitor.probes import ProbeKey

# +1: a higher value is better; -1: a lower value is better. Absent: no direction by itself.
BETTER_WHEN = {
    "accuracy": 1, "format_compliance_rate": 1, "json_valid_rate": 1,
    "json_schema_valid_rate": 1, "answer_found_rate": 1, "error_rate": -1,
    "truncation_rate": -1, "latency_p50": -1,
}
PASS_RATE_ALPHA = 0.01  # a suite's pass rate is called fixed or broken only below this p
# a move this large that is not significant is still named, as not significant, so the summary
# never says "nothing" above a table where a pass rate clearly moved (issue 14, finding 8)
PASS_RATE_VISIBLE = 0.10


@dataclass
class Usage:
    """Operational numbers of one side."""

    responses: int = 0
    failed: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    output_tokens_mean: float | None = None
    input_tokens_mean: float | None = None
    cost_per_1k: float | None = None  # USD per 1,000 probe calls
    cost_note: str | None = None


@dataclass
class PassRates:
    """Share of answers whose probe expectations all hold, overall and per suite."""

    overall: float | None
    answers: int
    per_suite: dict[str, tuple[float, int]] = field(default_factory=dict)
    passed: dict[str, int] = field(default_factory=dict)  # per suite, for the exact test


@dataclass
class ProbeDiff:
    """One probe whose expectation pass rate differs between the sides."""

    probe: str
    pinned: float
    candidate: float
    example_pinned: str
    example_candidate: str


@dataclass
class CompareReport:
    pinned: str
    candidate: str
    pinned_model: str
    candidate_model: str
    probes: int
    pinned_runs: list[int]
    candidate_runs: list[int]
    pinned_reused: bool
    candidate_reused: bool
    findings: list[Finding]
    pass_rates: tuple[PassRates, PassRates]
    usage: tuple[Usage, Usage]
    probe_diffs: list[ProbeDiff]
    refusals: tuple[dict[str, tuple[float, int]], dict[str, tuple[float, int]]]
    fixes: list[str]
    breaks: list[str]
    changes: list[str]
    costs: list[str]
    notes: list[str] = field(default_factory=list)

    def by_dimension(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.dimension, []).append(f)
        return out


def sample_passes(features: dict[str, Any]) -> bool | None:
    """Whether every expectation of the probe held for one answer; None when it has none."""
    verdicts = [features.get(k) for k in ("format_compliant", "correct")]
    verdicts = [v for v in verdicts if v is not None]
    return all(verdicts) if verdicts else None


def pass_rates(side: Side) -> PassRates:
    per: dict[str, list[bool]] = {}
    for s in side.ok:
        verdict = sample_passes(s.features)
        if verdict is not None:
            per.setdefault(ProbeKey.parse(s.probe).suite, []).append(verdict)
    every = [v for vs in per.values() for v in vs]
    return PassRates(overall=float(np.mean(every)) if every else None, answers=len(every),
                     per_suite={k: (float(np.mean(v)), len(v)) for k, v in sorted(per.items())},
                     passed={k: int(sum(v)) for k, v in per.items()})


def refusal_rates(side: Side) -> dict[str, tuple[float, int]]:
    """Per suite: the share of answers the refusal classifier reads as a refusal, and n."""
    per: dict[str, list[bool]] = {}
    for s in side.ok:
        if s.features.get("refusal") is not None:
            per.setdefault(ProbeKey.parse(s.probe).suite, []).append(bool(s.features["refusal"]))
    return {k: (float(np.mean(v)), len(v)) for k, v in sorted(per.items())}


def suite_pass_changes(rates: tuple[PassRates, PassRates], *, alpha: float = PASS_RATE_ALPHA,
                       visible: float | None = None,
                       ) -> list[tuple[str, float, float, float]]:
    """(suite, pinned rate, candidate rate, p) for suites whose expectation pass rate differs
    by Fisher's exact test at PASS_RATE_ALPHA. Pooled over the suite's answers: a screen that
    names what to look at, not the paired test a check runs."""
    from scipy.stats import fisher_exact

    pb, pc = rates
    out = []
    for suite in sorted(set(pb.per_suite) & set(pc.per_suite)):
        (rb, nb), (rc, nc) = pb.per_suite[suite], pc.per_suite[suite]
        kb, kc = pb.passed[suite], pc.passed[suite]
        p = float(fisher_exact([[kb, nb - kb], [kc, nc - kc]])[1])
        if p < alpha or (visible is not None and abs(rc - rb) >= visible):
            out.append((suite, rb, rc, p))
    return out


def usage(rows: list[dict[str, Any]], target: TargetConfig) -> Usage:
    """Latency, tokens and cost of the stored responses ``rows`` (Store.response_usage)."""
    ok = [r for r in rows if r["ok"]]
    out = Usage(responses=len(ok), failed=len(rows) - len(ok))
    lat = [r["latency_ms"] for r in ok if r["latency_ms"] is not None]
    if lat:
        out.latency_p50_ms = float(np.percentile(lat, 50))
        out.latency_p95_ms = float(np.percentile(lat, 95))
    outs = [r["output_tokens"] for r in ok if r["output_tokens"] is not None]
    ins = [r["input_tokens"] for r in ok if r["input_tokens"] is not None]
    out.output_tokens_mean = float(np.mean(outs)) if outs else None
    out.input_tokens_mean = float(np.mean(ins)) if ins else None
    costs = [r["cost_usd"] for r in ok if r["cost_usd"] is not None]
    if ok and len(costs) == len(ok):
        out.cost_per_1k = 1000 * float(np.mean(costs))
    elif target.price is not None and outs:
        # the provider did not report every count (recordings often lack input tokens):
        # price what was reported and say so, rather than show no cost at all
        per_call = ((out.input_tokens_mean or 0.0) * target.price.input_per_mtok
                    + float(np.mean(outs)) * target.price.output_per_mtok) / 1_000_000
        out.cost_per_1k = 1000 * per_call
        if not ins:
            out.cost_note = "output tokens only: the provider reported no input tokens"
    else:
        out.cost_note = "no price configured" if target.price is None else "no token counts"
    return out


def probe_diffs(base: Side, cur: Side) -> list[ProbeDiff]:
    """Probes whose expectation pass rate moved, largest moves first."""
    b, c = base.by_probe(), cur.by_probe()
    out = []
    for key in sorted(set(b) & set(c)):
        vb = [(sample_passes(s.features), s) for s in b[key]]
        vc = [(sample_passes(s.features), s) for s in c[key]]
        vb = [(v, s) for v, s in vb if v is not None]
        vc = [(v, s) for v, s in vc if v is not None]
        if not vb or not vc:
            continue
        rb = float(np.mean([v for v, _ in vb]))
        rc = float(np.mean([v for v, _ in vc]))
        if rb == rc:
            continue
        # show an answer that passed on the side that passes more, and one that failed
        eb = next((s for v, s in vb if v == (rb > rc)), vb[0][1])
        ec = next((s for v, s in vc if v == (rc > rb)), vc[0][1])
        out.append(ProbeDiff(key, rb, rc, eb.text or "", ec.text or ""))
    out.sort(key=lambda d: -abs(d.candidate - d.pinned))
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def verdicts(findings: list[Finding], rates: tuple[PassRates, PassRates],
             use: tuple[Usage, Usage]) -> tuple[list[str], list[str], list[str], list[str]]:
    """(fixes, breaks, changes, costs) as plain sentences."""
    fixes: list[str] = []
    breaks: list[str] = []
    changes: list[str] = []
    for f in findings:
        good = BETTER_WHEN.get(f.metric)
        line = f"{f.dimension}: {f.summary}"
        if good is None or f.dimension == "metadata":
            changes.append(line)
        elif good * f.direction > 0:
            fixes.append(line)
        else:
            breaks.append(line)
    for suite, rb, rc, p in suite_pass_changes(rates, visible=PASS_RATE_VISIBLE):
        (nb, nc) = rates[0].per_suite[suite][1], rates[1].per_suite[suite][1]
        if p < PASS_RATE_ALPHA:
            line = (f"expectations: {_pct(rc)} of answers pass in suite {suite} (pinned: "
                    f"{_pct(rb)}; Fisher p = {p:.1e})")
            (fixes if rc > rb else breaks).insert(0, line)
        else:
            word = "rose" if rc > rb else "fell"
            line = (f"possibly: the pass rate of suite {suite} {word} from {_pct(rb)} to "
                    f"{_pct(rc)}, not significant over {nb} and {nc} answers (Fisher p = "
                    f"{p:.2f}); more samples would tell")
            (fixes if rc > rb else breaks).append(line)
    ub, uc = use
    costs = []
    if ub.cost_per_1k is not None and uc.cost_per_1k is not None:
        delta = uc.cost_per_1k - ub.cost_per_1k
        rel = f" ({delta / ub.cost_per_1k:+.0%})" if ub.cost_per_1k else ""
        costs.append(f"${uc.cost_per_1k:.4f} per 1,000 probes vs ${ub.cost_per_1k:.4f}{rel}")
    if ub.output_tokens_mean and uc.output_tokens_mean is not None:
        costs.append(f"{uc.output_tokens_mean:.0f} output tokens per answer vs "
                     f"{ub.output_tokens_mean:.0f} "
                     f"({uc.output_tokens_mean / ub.output_tokens_mean - 1:+.0%})")
    if ub.latency_p50_ms and uc.latency_p50_ms is not None:
        costs.append(f"latency p50 {uc.latency_p50_ms / 1000:.2f} s vs "
                     f"{ub.latency_p50_ms / 1000:.2f} s, p95 "
                     f"{(uc.latency_p95_ms or 0) / 1000:.2f} s vs "
                     f"{(ub.latency_p95_ms or 0) / 1000:.2f} s")
    return fixes, breaks, changes, costs
