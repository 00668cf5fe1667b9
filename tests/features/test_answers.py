from __future__ import annotations

import re
import statistics

import pytest

from drift_monitor.features import answers
from drift_monitor.features.answers import category_value, normalize_text

from .realdata import JUNE, MARCH, load_task, snapshot

YES_NO = {"pattern": r"\[(Yes|No)\]"}


def a(text: str, expect: dict | None) -> dict:
    return answers.compute(text, expect)


def test_choice_takes_the_last_match():
    text = "[No]\n\nChecking... 16927 is prime.\n\nI must correct myself: the answer is [Yes]."
    f = a(text, {"choice": {**YES_NO, "reference": "yes"}})
    assert f["answer"] == "yes" and f["answer_found"] is True and f["correct"] is True


def test_choice_reference_is_case_insensitive_and_found_flag_is_set():
    assert a("[No]", {"choice": {**YES_NO, "reference": "NO"}})["correct"] is True
    f = a("[No]", {"choice": {**YES_NO, "reference": "Yes"}})
    assert f["correct"] is False and f["answer"] == "no"


def test_missing_answer_is_none_and_incorrect():
    f = a("No", {"choice": {**YES_NO, "reference": "No"}})
    assert f == {"answer": None, "answer_found": False, "correct": False,
                 "answer_text_norm": None}
    f = a("No", {"choice": dict(YES_NO)})
    assert f["answer_found"] is False and f["correct"] is None


def test_first_participating_group_or_whole_match():
    alt = {"choice": {"pattern": r"\[(Yes)\]|\[(No)\]"}}
    assert a("so [No]", alt)["answer"] == "no"
    assert a("Option B, final: (C)", {"regex": {"pattern": r"\([A-E]\)"}})["answer"] == "c"
    assert a("id 17 then id 42", {"regex": {"pattern": r"id (\d+)", "reference": "42"}})[
        "correct"] is True


def test_regex_patterns_apply_as_written():
    assert a("[yes]", {"choice": dict(YES_NO)})["answer_found"] is False
    assert a("[yes]", {"choice": {"pattern": r"(?i)\[(yes|no)\]"}})["answer"] == "yes"


def test_invalid_pattern_is_a_value_error():
    with pytest.raises(ValueError, match="invalid answer pattern"):
        a("x", {"regex": {"pattern": "("}})


@pytest.mark.parametrize("text,expected", [
    ("The answer is 42.", "42"),
    ("Step 1: 3 apples. Step 2: so 1,234.5 in total", "1234.5"),
    ("It was -3 degrees", "-3"),
    ("It was \u22127 degrees", "-7"),
    ("between 3-5 days", "5"),
    ("about 2e-5 of it", "2e-05"),
    ("1,2,3", "3"),
    ("1,000,000 users", "1000000"),
    ("x2 and the 5th", None),
    ("no digits at all", None),
    ("", None),
])
def test_number_is_the_last_number(text: str, expected: str | None):
    assert a(text, {"number": {}})["answer"] == expected


def test_number_tolerance():
    spec = {"number": {"reference": 3.14, "tolerance": 0.01}}
    assert a("pi is about 3.1416", spec)["correct"] is True
    assert a("pi is about 3.2", spec)["correct"] is False
    assert a("0.1 + 0.2 = 0.30000000000000004", {"number": {"reference": 0.3}})["correct"] is True
    assert a("nothing", spec)["correct"] is False


JSON_TEXT = '{"order": {"status": "Shipped", "items": [{"sku": "A1", "qty": 2}], "paid": true}}'


@pytest.mark.parametrize("path,reference,answer,correct", [
    ("order.status", "shipped", "shipped", True),
    ("order.items.0.qty", 2, "2", True),
    ("order.items.-1.sku", "a1", "a1", True),
    ("order.items.0.qty", 2.0, "2", True),
    ("order.items.0.qty", "2", "2", True),
    ("order.paid", True, "true", True),
    ("order.paid", 1, "true", False),
    ("order.items.0", {"qty": 2, "sku": "A1"}, '{"qty":2,"sku":"A1"}', True),
    ("order.missing", "x", None, False),
    ("order.items.5", "x", None, False),
    ("order.status.deeper", "x", None, False),
])
def test_json_field_by_dotted_path(path, reference, answer, correct):
    f = a(JSON_TEXT, {"json_field": {"path": path, "reference": reference}})
    assert f["answer"] == answer and f["correct"] is correct
    assert f["answer_found"] is (answer is not None)


@pytest.mark.parametrize("text", [
    '```json\n{"status": "ok"}\n```',
    'Sure! Here is the result:\n```json\n{"status": "ok"}\n```\nAnything else?',
    'The result is {"status": "ok"} as requested.',
])
def test_json_field_finds_json_inside_fences_and_prose(text: str):
    assert a(text, {"json_field": {"path": "status"}})["answer"] == "ok"


def test_broken_json_field_is_not_found():
    f = a('{"status": "ok"', {"json_field": {"path": "status", "reference": "ok"}})
    assert f["answer_found"] is False and f["correct"] is False


def test_text_answers_compare_normalised():
    f = a("The answer: PARIS!", {"text": {"reference": "the answer paris"}})
    assert f["answer"] == "the answer paris" and f["correct"] is True
    assert a("Lyon", {"text": {"reference": "Paris"}})["correct"] is False


def test_without_answer_kind_the_whole_text_is_normalised():
    f = a("  Hello,   WORLD!! ", None)
    assert f["answer"] is None and f["answer_found"] is None and f["correct"] is None
    assert f["answer_text_norm"] == "hello world"
    assert a("hello world", {"max_words": 3})["answer_text_norm"] == "hello world"
    assert a("", None)["answer_text_norm"] == ""
    assert a("Ｆｕｌｌ　ｗｉｄｔｈ", None)["answer_text_norm"] == "full width"
    assert a("😀 ¡Sí!", None)["answer_text_norm"] == "sí"


def test_long_answers_become_prefix_plus_hash():
    base = "word " * 100
    one, two = category_value(normalize_text(base + "end")), category_value(
        normalize_text(base + "fin"))
    assert one != two and len(one) <= 120 and len(two) <= 120
    assert one.startswith("word word") and "\u2026#" in one
    assert category_value("short") == "short"


def independent_yes_no(text: str) -> str | None:
    """Written without the feature code: the last [Yes]/[No] in the text, lowercased."""
    hits = re.findall(r"\[(Yes|No)\]", text)
    return hits[-1].lower() if hits else None


@pytest.mark.parametrize("snap", [MARCH, JUNE])
def test_prime_answers_match_an_independent_extraction(snap: str):
    for row in snapshot("prime_numbers", snap):
        f = a(row["response"], {"choice": {**YES_NO, "reference": row["reference_answer"]}})
        assert f["answer"] == independent_yes_no(row["response"])


def test_prime_answers_lead_in_march_and_trail_in_june_and_the_last_match_reads_both():
    def position(snap: str) -> float:
        # where in the text the extracted answer sits, 0 = start, 1 = end
        spots = []
        for row in snapshot("prime_numbers", snap):
            hits = list(re.finditer(r"\[(Yes|No)\]", row["response"]))
            if hits:
                spots.append(hits[-1].start() / max(1, len(row["response"])))
        return statistics.median(spots)

    assert position(MARCH) < 0.1 and position(JUNE) > 0.9


def test_prime_answer_distribution_and_format_drift_between_snapshots():
    def summary(snap: str) -> tuple[float, float]:
        rows = snapshot("prime_numbers", snap)
        feats = [a(r["response"], {"choice": {**YES_NO, "reference": r["reference_answer"]}})
                 for r in rows]
        found = [f for f in feats if f["answer_found"]]
        return len(found) / len(feats), sum(f["answer"] == "yes" for f in found) / len(found)

    found_march, yes_march = summary(MARCH)
    found_june, yes_june = summary(JUNE)
    # June answers often drop the brackets ("No") and say "[Yes]" far more often
    assert found_march > 0.95 and found_june < found_march - 0.1
    assert yes_june - yes_march > 0.3


def test_opinion_survey_is_a_near_null_case():
    pattern = {"pattern": r"^\(?([A-F])\)?"}
    answers_by = {}
    for snap in (MARCH, JUNE):
        answers_by[snap] = {r["prompt_id"]: a(r["response"], {"choice": pattern})["answer"]
                            for r in snapshot("opinion_survey", snap)}
    same = [answers_by[MARCH][k] == answers_by[JUNE].get(k) for k in answers_by[MARCH]]
    assert statistics.mean(same) > 0.7
    assert len(load_task("opinion_survey")) == 608
