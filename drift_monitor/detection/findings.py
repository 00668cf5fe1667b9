"""Findings: one measured difference, how big it must be to count, and how it is described."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

SEVERITIES = ("info", "warning", "critical")
PAGE_SEVERITIES = ("warning", "critical")  # the severities that page (open an incident)
DIMENSIONS = ("formatting", "tone", "answers", "metadata", "operational")
EXAMPLE_CHARS = 400

# Minimum effects: a difference smaller than this never becomes a finding, however
# significant. Rates are in absolute points; sizes (mean >= 1: lengths, item counts) in relative
# change of the mean; other continuous features (sentiment, per-sentence rates, counts that are
# mostly zero) in absolute change.
MIN_EFFECT_BINARY = 0.10
MIN_EFFECT_CATEGORICAL = 0.10
MIN_EFFECT_RELATIVE = 0.25
MIN_EFFECT_ABSOLUTE = 0.15
MIN_EFFECT_AUC = 0.10  # AUC - 0.5
MIN_EFFECT = {
    "error_rate": 0.05,
    "truncation_rate": 0.05,
    "latency_p50": 0.50,
}

# Names and sentences for the features users care most about; others get a generic sentence.
METRIC_NAMES = {"has_code_fence": "code_fence_rate", "refusal": "refusal_rate",
                "all_fenced": "all_fenced_rate", "json_valid": "json_valid_rate",
                "json_schema_valid": "json_schema_valid_rate",
                "format_compliant": "format_compliance_rate", "correct": "accuracy",
                "apology": "apology_rate", "ai_disclaimer": "ai_disclaimer_rate",
                "answer_found": "answer_found_rate"}
SENTENCES = {
    "code_fence_rate": "code now arrives inside markdown fences in {cur:.0%} of answers "
                       "(was {base:.0%})",
    "refusal_rate": "the model now refuses {cur:.0%} of these requests (was {base:.0%})",
    "accuracy": "answers are now correct {cur:.0%} of the time (was {base:.0%})",
    "json_valid_rate": "{cur:.0%} of answers are valid JSON (was {base:.0%})",
    "json_schema_valid_rate": "{cur:.0%} of answers match the JSON schema (was {base:.0%})",
    "format_compliance_rate": "{cur:.0%} of answers follow the probe's format instructions "
                              "(was {base:.0%})",
    "all_fenced_rate": "{cur:.0%} of answers are a single fenced block (was {base:.0%})",
}
# The same metrics when the rate fell: a decrease must read as one (issue 14, finding 8).
SENTENCES_DOWN = {
    "code_fence_rate": "fewer answers put code inside markdown fences: {cur:.0%} (was "
                       "{base:.0%})",
    "refusal_rate": "the model refuses fewer of these requests: {cur:.0%} (was {base:.0%})",
    "accuracy": "answers are correct less often: {cur:.0%} of the time (was {base:.0%})",
    "json_valid_rate": "fewer answers are valid JSON: {cur:.0%} (was {base:.0%})",
    "json_schema_valid_rate": "fewer answers match the JSON schema: {cur:.0%} (was "
                              "{base:.0%})",
    "format_compliance_rate": "fewer answers follow the probe's format instructions: "
                              "{cur:.0%} (was {base:.0%})",
    "all_fenced_rate": "fewer answers are a single fenced block: {cur:.0%} (was {base:.0%})",
}


@dataclass(frozen=True)
class Finding:
    """One measured difference between the baseline and the window."""

    dimension: str
    metric: str
    probe: str | None
    baseline: Any
    current: Any
    effect: float
    p_value: float | None
    q_value: float | None
    severity: str
    summary: str
    examples: list[dict[str, str]] = field(default_factory=list)
    direction: int = 0
    confirmed: bool = False
    confirmed_by: str | None = None  # "second_window" | "confirmation_round" | "not_required"
    drifted_probes: tuple[str, ...] = ()  # probe keys that moved in the finding's direction
    details: dict[str, Any] = field(default_factory=dict)
    suite: str | None = None  # the suite a suite-level or probe finding was measured on

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        return (self.dimension, self.metric, self.suite, self.probe)

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The finding as DESIGN.md's ``check --json`` spells it."""
        return {"dimension": self.dimension, "metric": self.metric, "probe": self.probe,
                "suite": self.suite,
                "baseline": rounded(self.baseline), "current": rounded(self.current),
                "effect": rounded(self.effect), "p_value": rounded(self.p_value),
                "q_value": rounded(self.q_value), "severity": self.severity,
                "summary": self.summary, "examples": self.examples,
                "confirmed": self.confirmed}


def rounded(v: Any) -> Any:
    """A float to 4 significant digits (what stored findings and messages show); any other
    value unchanged."""
    if isinstance(v, float):
        return float(f"{v:.4g}")
    return v


def clip(text: str | None, limit: int = EXAMPLE_CHARS) -> str:
    """Shorten example text visibly."""
    if text is None:
        return ""
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more chars]"


def metric_name(feature: str, kind: str) -> str:
    if feature in METRIC_NAMES:
        return METRIC_NAMES[feature]
    if kind == "categorical":
        return f"{feature}_mismatch_rate"
    if kind == "binary":
        return f"{feature}_rate"
    return feature


def describe(metric: str, kind: str, base: float, cur: float, effect: float,
             relative: bool, description: str, probe: str | None,
             suite: str | None = None) -> str:
    """One plain sentence for a finding."""
    where = f" on probe {probe}" if probe else (f" in suite {suite}" if suite else "")
    if metric in SENTENCES:
        table = SENTENCES_DOWN if cur < base else SENTENCES
        return table[metric].format(cur=cur, base=base) + where
    if kind == "binary" and metric.startswith("uses_"):
        what = metric[len("uses_"):].removesuffix("_rate").replace("_", " ")
        if cur < base:
            return f"fewer answers use {what}: {cur:.0%} (was {base:.0%}){where}"
        return f"{cur:.0%} of answers use {what} (was {base:.0%}){where}"
    if kind == "binary":
        verb = "fell to" if cur < base else "rose to"
        return f"{metric.replace('_', ' ')} {verb} {cur:.0%} (was {base:.0%}){where}"
    if kind == "categorical":
        return (f"answers now differ from the baseline's answers {cur:.0%} of the time (the "
                f"baseline's runs differ from each other {base:.0%}){where}")
    change = f"{effect:+.0%}" if relative else f"{effect:+.2f}"
    return f"{description}: mean {base:.3g} -> {cur:.3g} ({change}){where}"


def severity_for(effect: float, threshold: float) -> str:
    """For a significant finding: critical when the change is at least three times the bar it
    had to clear (minimum effect or A/A noise), warning otherwise."""
    return "critical" if abs(effect) >= 3 * threshold else "warning"


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)
