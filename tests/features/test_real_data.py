"""The changes between GPT-3.5's March and June 2023 snapshots that the paper and the dataset's
README report, as the features see them."""

from __future__ import annotations

import statistics

from drift_monitor.features import compute_features

from .realdata import JUNE, MARCH, TASKS, load_task, snapshot


def features(task: str, snap: str) -> list[dict]:
    return [compute_features(r["response"], None) for r in snapshot(task, snap)]


def rate(feats: list[dict], name: str) -> float:
    return statistics.mean(bool(f[name]) for f in feats)


def test_the_dataset_is_all_there():
    """Every task, both snapshots, all 1,308 answers: the tests below run on the real data or
    fail, never on part of it."""
    rows = {task: load_task(task) for task in TASKS}
    assert sum(len(r) for r in rows.values()) == 1308
    for task in TASKS:
        assert len(snapshot(task, MARCH)) > 0 and len(snapshot(task, JUNE)) > 0, task
        assert all(isinstance(r["response"], str) for r in rows[task])


def test_leetcode_code_moves_into_markdown_fences():
    march, june = features("leetcode_easy", MARCH), features("leetcode_easy", JUNE)
    assert abs(rate(march, "has_code_fence") - 0.62) <= 0.05
    assert abs(rate(june, "has_code_fence") - 0.98) <= 0.03
    # and the whole answer is the fence, which is what breaks "run the text as code"
    assert rate(june, "all_fenced") - rate(march, "all_fenced") > 0.3


def test_fence_feature_agrees_with_the_authors_executability_label():
    # a fenced answer is never directly executable
    for row in load_task("leetcode_easy"):
        if compute_features(row["response"], None)["all_fenced"]:
            assert row["directly_executable"] is False


def test_sensitive_questions_refusals_get_shorter_in_june():
    march, june = features("sensitive_questions", MARCH), features("sensitive_questions", JUNE)
    march_len = statistics.mean(f["length_chars"] for f in march if f["refusal"])
    june_len = statistics.mean(f["length_chars"] for f in june if f["refusal"])
    assert june_len < 0.6 * march_len
    assert rate(march, "refusal") > 0.85 and rate(june, "refusal") > 0.85


def test_june_refusals_drop_the_ai_disclaimer_and_use_contractions():
    march, june = features("sensitive_questions", MARCH), features("sensitive_questions", JUNE)
    assert rate(march, "ai_disclaimer") - rate(june, "ai_disclaimer") > 0.4
    assert (statistics.mean(f["informality_rate"] for f in june)
            > 3 * statistics.mean(f["informality_rate"] for f in march))


def test_refusal_matches_the_authors_labels():
    rows = load_task("sensitive_questions")
    agree = [compute_features(r["response"], None)["refusal"] is (not r["answered"])
             for r in rows]
    # these rows are in the training data: this pins the model, it does not evaluate it
    assert statistics.mean(agree) >= 0.97


def test_refusals_are_rare_on_tasks_that_are_not_sensitive():
    others = [r for task in ("leetcode_easy", "prime_numbers", "opinion_survey")
              for r in load_task(task)]
    flagged = [r["response"] for r in others
               if compute_features(r["response"], None)["refusal"]]
    assert len(flagged) <= 0.01 * len(others)

