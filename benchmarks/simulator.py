"""A simulated nondeterministic model for detection benchmarks.

Four suites of ten probes each (code, yes/no questions, risky requests, support replies). Every
answer varies the way hosted models do even at temperature 0: wording, length, occasional
formatting, occasional wrong answers and refusals, plus a run-level wobble (some runs fence a
little more, some refuse a little more), which is what the baseline's A/A variation must absorb.
Changes can be injected: more refusals, more fenced code, longer answers, flipped answers.

Texts repeat across samples (the variation is combinatorial, not free text), so features are
computed once per distinct text and cached.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from drift_monitor.detection.samples import Sample, Side
from drift_monitor.features import compute_features

PROBES_PER_SUITE = 20


@dataclass(frozen=True)
class Change:
    """An injected behaviour change (all zero: the null)."""

    refusal_points: float = 0.0   # added to the refusal probability of risky requests
    fence_points: float = 0.0     # added to the probability that code arrives fenced
    length_factor: float = 1.0    # answers get this much longer
    flip_rate: float = 0.0        # extra probability that a yes/no answer flips


NULL = Change()

CHOICE_EXPECT = {"choice": {"pattern": r"\[(Yes|No)\]", "reference": "Yes"}}
_OPENERS = ["Sure.", "Here is the solution.", "Here's one way to do it.", "Certainly."]
_FILLER = ["This keeps the code simple.", "It runs in linear time.",
           "Edge cases are handled explicitly.", "The approach is straightforward.",
           "No extra memory is needed.", "It works for empty input too."]
_REASON = ["First, check divisibility by small primes.", "The number is odd.",
           "Its digit sum is not divisible by three.", "It does not end in 0 or 5.",
           "Checking up to the square root is enough.", "No divisor was found.",
           "We can test each prime in turn.", "This settles the question."]
_REFUSALS = ["I'm sorry, but I can't help with that.",
             "I cannot assist with this request, as it could cause harm.",
             "As an AI language model, I can't provide that information.",
             "Sorry, I won't be able to help with this one."]
_HELP = ["Here is some general information on the topic.", "There are a few things to know.",
         "It depends on the context.", "Many people ask about this.",
         "A good first step is to read the documentation.", "Safety comes first here."]
_SUPPORT = ["Thanks for reaching out!", "I understand how frustrating this is.",
            "Your order is on its way.", "It should arrive within three days.",
            "Please let us know if anything else comes up.", "We appreciate your patience.",
            "You can track it from your account page.", "We're happy to help."]


def _code(rng: random.Random, probe: int) -> str:
    name = rng.choice(["nums", "values", "items"])
    body = (f"def solve_{probe}({name}):\n    total = 0\n    for x in {name}:\n"
            f"        total += x * {probe + 1}\n    return total")
    if rng.random() < 0.3:
        body = "# compute the weighted sum\n" + body
    return body


def answer(suite: str, probe: int, rng: random.Random, change: Change,
           run_wobble: dict[str, float]) -> str:
    """One simulated answer to probe ``probe`` of ``suite``."""
    n_extra = max(0, round(rng.choice([0, 1, 1, 2, 2, 3]) * change.length_factor
                           + (change.length_factor - 1) * 3))
    if suite == "code":
        code = _code(rng, probe)
        p_fence = 0.10 + run_wobble["fence"] + change.fence_points
        text = f"```python\n{code}\n```" if rng.random() < p_fence else code
        extra = " ".join(rng.sample(_FILLER, min(len(_FILLER), n_extra)))
        opener = rng.choice(_OPENERS) + "\n\n" if rng.random() < 0.5 else ""
        return opener + text + ("\n\n" + extra if extra else "")
    if suite == "primes":
        p_correct = 0.97 if probe % 3 else 0.85
        correct = rng.random() < p_correct
        if rng.random() < change.flip_rate:
            correct = not correct
        verdict = "[Yes]" if correct else "[No]"
        reasons = " ".join(rng.sample(_REASON, min(len(_REASON), 2 + n_extra)))
        return f"{reasons} So the answer is {verdict}." if rng.random() < 0.7 else \
            f"{verdict} {reasons}"
    if suite == "risky":
        p_refuse = (0.35 + 0.04 * (probe % 5)) + run_wobble["refusal"] + change.refusal_points
        if rng.random() < p_refuse:
            text = rng.choice(_REFUSALS)
            if n_extra:
                text += " " + rng.choice(["Please consult a professional.",
                                          "Let me know if I can help with something else."])
            return text
        return " ".join(rng.sample(_HELP, min(len(_HELP), 2 + n_extra)))
    sentences = rng.sample(_SUPPORT, min(len(_SUPPORT), 2 + n_extra))
    if rng.random() < 0.08:
        return "\n".join(f"- {s}" for s in sentences)
    return " ".join(sentences)


SUITES = ("code", "primes", "risky", "support")


@lru_cache(maxsize=200_000)
def _features(text: str, suite: str) -> dict[str, Any]:
    return compute_features(text, CHOICE_EXPECT if suite == "primes" else None)


def simulate_run(run_id: int, samples: int, seed: int, change: Change = NULL,
                 probes: set[str] | None = None) -> list[Sample]:
    """One run: every probe (or only ``probes``, keys "suite/p3@v1") ``samples`` times."""
    rng = random.Random(seed)
    wobble = {"fence": rng.uniform(-0.03, 0.03), "refusal": rng.uniform(-0.03, 0.03)}
    out = []
    for suite in SUITES:
        for p in range(PROBES_PER_SUITE):
            key = f"{suite}/p{p}@v1"
            if probes is not None and key not in probes:
                continue
            for _ in range(samples):
                text = answer(suite, p, rng, change, wobble)
                out.append(Sample(probe=key, run_id=run_id, ok=True, text=text,
                                  features=_features(text, suite),
                                  latency_ms=rng.lognormvariate(6.5, 0.3),
                                  finish_reason="stop", model_returned="sim-1"))
    return out


def baseline_side(samples: int, seed: int, runs: int = 3) -> Side:
    return Side([s for r in range(runs) for s in simulate_run(r + 1, samples, seed * 1000 + r)])
