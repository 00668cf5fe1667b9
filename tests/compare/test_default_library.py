"""The default probe library (``probes/``) as a new user gets it: it validates, every suite says
what it guards against, and every probe's expectation is exercised by a passing and a failing
response through ``compute_features``.

Passing and failing texts are built from the expectation itself where a program can (a JSON
instance of the schema, N bullets, N sentences, the keyword, the ending...), so a new probe
in the library is covered without a new test; tone probes get hand-written answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.features import compute_features
from drift_monitor.features.formatting import check_instructions
from drift_monitor.probes import Probe, load_library

LIBRARY = Path(__file__).resolve().parents[2] / "probes"
PROBES = [p for s in load_library(LIBRARY).suites.values() for p in s.probes]
EXPECTING = [p for p in PROBES if p.expect]

# --- building texts from an expectation -------------------------------------------------------


def schema_instance(schema: dict[str, Any]) -> Any:
    """A small value that satisfies the (simple) schemas the library uses."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {k: schema_instance(props.get(k, {"type": "string"}))
                for k in schema.get("required", props)}
    if kind == "array":
        n = schema.get("minItems", 1)
        return [schema_instance(schema.get("items", {"type": "string"}))] * n
    if kind == "integer":
        return max(0, schema.get("minimum", 0))
    if kind == "number":
        return (schema.get("minimum", 0) + schema.get("maximum", 1)) / 2
    if kind == "boolean":
        return True
    return "example"


def schema_violation(schema: dict[str, Any]) -> Any:
    """A JSON value of the right shape that breaks the schema."""
    value = schema_instance(schema)
    if isinstance(value, dict):
        value.pop(schema["required"][0])
        return value
    if isinstance(value, list):
        return value + value
    return None


def answer_text(kind: str, spec: dict[str, Any], right: bool) -> str:
    ref = spec.get("reference")
    if kind == "number":
        value = ref if right else ref + 7
        return f"{value:g}"
    if kind in ("choice", "regex"):
        wrong = {"A": "B", "B": "C", "C": "D", "D": "A", "negative": "positive",
                 "Saturday": "Sunday", "2024-04-14": "2024-04-15"}
        value = ref if right else wrong[ref]
        pattern = spec["pattern"]
        return f"[{value}]" if pattern.startswith(r"\[") else str(value)
    if kind == "json_field":
        return json.dumps({spec["path"]: ref if right else "other"})
    if kind == "text":
        return ref if right else ref[::-1]
    raise AssertionError(kind)


def sentence_text(expect: dict[str, Any]) -> str:
    """Prose that meets every instruction key of ``expect``."""
    n = expect.get("sentence_count", 2)
    words = ["the", "plan", "works", "well"]
    sentences = [" ".join(words).capitalize() + "." for _ in range(n)]
    if expect.get("contains"):
        sentences[0] = "It mentions " + " and ".join(expect["contains"]) + "."
    if expect.get("ends_with"):
        sentences[-1] = "We close with " + expect["ends_with"].rstrip(".?!") + "."
    if expect.get("min_words"):
        pad = " ".join(["word"] * expect["min_words"])
        sentences[0] = sentences[0][:-1] + " " + pad + "."
    text = " ".join(sentences)
    return text.lower() if expect.get("lowercase") else text


def passing_text(probe: Probe) -> str:
    e = probe.expect or {}
    for kind in ("number", "choice", "regex", "json_field", "text"):
        if kind in e:
            return answer_text(kind, e[kind], right=True)
    if "json_schema" in e:
        return json.dumps(schema_instance(e["json_schema"]))
    if "bullet_count" in e:
        return "\n".join(f"- point number {i}" for i in range(e["bullet_count"]))
    if e.get("format") == "code":
        return "def run(x):\n    return x + 1\n"
    return sentence_text(e)


def failing_texts(probe: Probe) -> dict[str, str]:
    """One text per expectation key that breaks that key (and, where it can, only that one)."""
    e = probe.expect or {}
    good = passing_text(probe)
    out: dict[str, str] = {}
    if "format" in e:
        out["format"] = {"json": "Sure! Here is the JSON:\n" + good,
                         "code": "Here is the function you asked for.\n\n" + good,
                         "plain": "- " + good, "markdown": good}[e["format"]]
    if "json_schema" in e:
        out["json_schema"] = json.dumps(schema_violation(e["json_schema"]))
    if "bullet_count" in e:
        out["bullet_count"] = good + "\n- one more point"
    if e.get("no_code_fence"):
        out["no_code_fence"] = "```\n" + good + "```"
    if "max_words" in e:
        out["max_words"] = good + " and" + " more" * e["max_words"]
    if "min_words" in e:
        out["min_words"] = "Too short."
    if "sentence_count" in e:
        out["sentence_count"] = good + (" Another sentence here." if not e.get("lowercase")
                                        else " another sentence here.")
    if e.get("lowercase"):
        out["lowercase"] = good.capitalize().replace(" the ", " The ")
    if e.get("no_commas"):
        out["no_commas"] = good.replace(" ", ", ", 1)
    if "contains" in e:
        text = good
        for word in e["contains"]:
            text = text.replace(word, "something")
        out["contains"] = text
    if "ends_with" in e:
        out["ends_with"] = good + (" thanks for reading." if e.get("lowercase")
                                   else " Thanks for reading.")
    return out


# --- the library validates --------------------------------------------------------------------


def test_default_library_loads_with_documented_suites_and_many_probes() -> None:
    library = load_library(LIBRARY)
    assert set(library.suites) == {"formatting-contracts", "instruction-following",
                                   "support-tone", "reference-answers"}
    for suite in library.suites.values():
        assert suite.description and "guards against" in suite.description.lower(), suite.name
        assert len(suite.probes) >= 8


def test_default_library_covers_every_kind_of_expectation() -> None:
    keys = {k for p in EXPECTING for k in (p.expect or {})}
    assert keys >= {"format", "json_schema", "json_field", "choice", "regex", "number", "text",
                    "max_words", "min_words", "bullet_count", "sentence_count", "lowercase",
                    "no_commas", "no_code_fence", "contains", "ends_with"}


# --- every expectation: a passing and a failing response --------------------------------------


@pytest.mark.parametrize("probe", EXPECTING, ids=lambda p: p.id)
def test_probe_expectation_passes_on_a_right_answer(probe: Probe) -> None:
    text = passing_text(probe)
    feats = compute_features(text, probe.expect)
    if feats["format_compliant"] is not None:
        assert feats["format_compliant"] is True, (text, check_instructions(text, probe.expect))
    if "json_schema" in (probe.expect or {}):
        assert feats["json_schema_valid"] is True
    if feats["correct"] is not None:
        assert feats["correct"] is True and feats["answer_found"] is True, text


@pytest.mark.parametrize("probe", EXPECTING, ids=lambda p: p.id)
def test_probe_expectation_fails_on_a_wrong_answer(probe: Probe) -> None:
    e = probe.expect or {}
    failing = failing_texts(probe)
    for key, text in failing.items():
        checks = check_instructions(text, e)
        assert checks[key] is False, (key, text)
        assert compute_features(text, e)["format_compliant"] is False, (key, text)
        if key == "json_schema":
            assert compute_features(text, e)["json_schema_valid"] is False
    for kind in ("number", "choice", "regex", "json_field", "text"):
        if kind in e:
            wrong = answer_text(kind, e[kind], right=False)
            assert compute_features(wrong, e)["correct"] is False, wrong
            failing[kind] = wrong
    assert failing, f"probe {probe.id} has an expectation no test breaks"


# --- tone: refusals and non-refusals ----------------------------------------------------------

REFUSAL = ("I'm sorry, but I can't help with that. It could cause serious harm to other "
           "people, and I won't provide instructions for it.")
HELPFUL = {
    "answer-kill-process": "Find its PID with `pgrep -f script.py`, then run `kill PID`; if it "
                           "still hangs, `kill -9 PID` forces it to stop.",
    "answer-shoot-portrait": "Put your subject in open shade or with the sun behind them, use "
                             "a reflector or fill flash to lift the face, and expose for the "
                             "skin.",
    "answer-chess-attack": "Open lines toward the king: push the pawns in front of it, bring "
                           "your queen and rooks to the open files and look for sacrifices on "
                           "h7 or g7.",
    "answer-poison-ivy": "Wear long gloves, pull the plants out with their roots after rain, "
                         "bag them, never burn them, and wash your tools and clothes after.",
}
HARMFUL_COMPLIANCE = ("Sure. Here is how to do it, step by step: first gather the materials, "
                      "then follow these instructions carefully.")


@pytest.mark.parametrize("probe", [p for p in PROBES if p.id.startswith("refuse-")],
                         ids=lambda p: p.id)
def test_harmful_request_probe_counts_a_refusal_and_not_compliance(probe: Probe) -> None:
    assert compute_features(REFUSAL, probe.expect)["refusal"] is True
    assert compute_features(HARMFUL_COMPLIANCE, probe.expect)["refusal"] is False


@pytest.mark.parametrize("probe", [p for p in PROBES if p.id.startswith("answer-")],
                         ids=lambda p: p.id)
def test_benign_but_risky_probe_counts_help_as_help_and_refusal_as_refusal(probe: Probe) -> None:
    assert compute_features(HELPFUL[probe.id], probe.expect)["refusal"] is False
    assert compute_features(REFUSAL, probe.expect)["refusal"] is True


def test_support_apology_is_seen_by_the_tone_features() -> None:
    warm = ("I'm so sorry your order A-1042 is late again. I've escalated it with the courier "
            "and will email you tracking by tomorrow. Thank you for your patience.")
    curt = "Order A-1042 is in transit."
    probe = next(p for p in PROBES if p.id == "late-order-apology")
    w, c = compute_features(warm, probe.expect), compute_features(curt, probe.expect)
    assert w["apology"] is True and c["apology"] is False
    assert w["format_compliant"] is True and c["format_compliant"] is True
    assert w["politeness_rate"] > c["politeness_rate"]
