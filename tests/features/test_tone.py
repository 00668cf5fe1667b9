from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from drift_monitor.features import _vader, tone
from drift_monitor.features._document import Document

LABELS = Path(__file__).resolve().parents[2] / "drift_monitor/features/data/refusal_labels.jsonl"


def t(text: str) -> dict:
    return tone.compute(text)


def training_texts() -> set[str]:
    with LABELS.open(encoding="utf-8") as f:
        return {json.loads(line)["text"] for line in f}


def test_sentiment_is_the_mean_vader_compound_of_the_prose_sentences():
    text = "I love this design. The file has three lines. This bug is terrible!"
    doc = Document(text)
    assert len(doc.sentences) == 3
    stock = _vader.analyzer()
    expected = statistics.mean(stock.polarity_scores(s)["compound"] for s in doc.sentences)
    assert t(text)["sentiment"] == pytest.approx(expected)


def test_sentiment_has_the_right_sign():
    assert t("Thank you, this is wonderful and I love it!")["sentiment"] > 0.5
    assert t("This is awful. I hate the terrible crash.")["sentiment"] < -0.5
    assert t("The file has three lines.")["sentiment"] == 0.0


def test_code_is_not_tone():
    code_only = "```python\n# terrible hack, awful, I hate it\nx = 1\n```"
    f = t(code_only)
    assert f["sentiment"] == 0.0 and f["hedge_rate"] == 0.0 and f["informality_rate"] == 0.0
    wrapped = "Great news, it works!\n\n```python\n# terrible awful hack\nx = 1\n```"
    assert t(wrapped)["sentiment"] > 0.5


def test_empty_text_is_neutral_and_not_a_refusal():
    f = t("")
    assert f["refusal"] is False and f["sentiment"] == 0.0
    assert all(f[k] == 0.0 for k in ("hedge_rate", "exclamation_rate", "question_rate",
                                       "second_person_rate", "politeness_rate",
                                       "informality_rate"))
    assert f["apology"] is False and f["ai_disclaimer"] is False
    assert t("   \n\n")["refusal"] is False
    assert t("😀")["refusal"] is False


REFUSALS = [
    "I'm sorry, but I can't help with writing that email.",
    "Sorry, I cannot provide instructions for that.",
    "I won't be able to assist with this request.",
    "As an AI language model, I cannot create content that promotes hatred.",
]
ANSWERS = [
    "The capital of Peru is Lima.",
    "```python\ndef add(a, b):\n    return a + b\n```",
    "(B). Somewhat disagree",
    "Yes, 7919 is prime.",
    "Sorry for the wait! Your parcel left our warehouse this morning.",
    "You can't call `len` on an int; convert it with `str(n)` first.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_unseen_refusals_are_detected(text: str):
    assert text not in training_texts()
    assert t(text)["refusal"] is True


@pytest.mark.parametrize("text", ANSWERS)
def test_unseen_answers_are_not_refusals(text: str):
    assert text not in training_texts()
    assert t(text)["refusal"] is False


def test_refusal_probability_is_a_probability_and_ranks_refusals_higher():
    p_ref = tone.refusal_probability("I'm sorry, but I can't assist with that request.")
    p_ans = tone.refusal_probability("Sure! Here is the summary you asked for.")
    assert 0.0 <= p_ans < 0.5 <= p_ref <= 1.0


def test_hedges_are_counted_per_sentence_and_phrases_once():
    assert t("It might rain. I think it will.")["hedge_rate"] == 1.0
    assert t("It may be true. It is true.")["hedge_rate"] == 0.5  # "may be" is one cue
    assert t("It is true.")["hedge_rate"] == 0.0


@pytest.mark.parametrize("text,expected", [
    ("I'm sorry, but I can't do that.", True),
    ("I apologise for the delay.", True),
    ("My apologies, the link was wrong.", True),
    ("I’m sorry to hear that.", True),  # sympathy counts too
    ("The build is sorted.", False),
])
def test_apology(text: str, expected: bool):
    assert t(text)["apology"] is expected


@pytest.mark.parametrize("text,expected", [
    ("As an AI language model, I cannot browse.", True),
    ("As an AI developed by OpenAI, I follow rules.", True),
    ("I'm just an AI, so I may be wrong.", True),
    ("I don’t have personal opinions, but here are both sides.", True),
    ("AI models are widely used in search.", False),
    ("As an engineer, I like models.", False),
])
def test_ai_disclaimer(text: str, expected: bool):
    assert t(text)["ai_disclaimer"] is expected


def test_exclamation_and_question_rates_are_fractions_of_sentences():
    f = t('Great! Really? Yes. "Wow!"')
    assert f["exclamation_rate"] == 0.5
    assert f["question_rate"] == 0.25


def test_second_person_rate_is_per_word():
    assert t("You said your code fails.")["second_person_rate"] == pytest.approx(2 / 5)
    assert t("You’re right and you've got it.")["second_person_rate"] == pytest.approx(2 / 6)


def test_politeness_rate_is_per_sentence():
    assert t("Thank you! Please send it. Feel free to ask.")["politeness_rate"] == 1.0
    assert t("Send it. Now.")["politeness_rate"] == 0.0


def test_informality_counts_contractions_slang_emoji_and_repeated_marks():
    f = t("Yeah, it'll be ok lol 😀!!")
    # yeah, it'll, ok, lol, 😀 and !! over the 5 words yeah it'll be ok lol
    assert f["informality_rate"] == pytest.approx(6 / 5)
    # "'s" is left out: it is a possessive as often as a contraction
    assert t("It's Ana's turn.")["informality_rate"] == 0.0
    assert t("It is going to be fine.")["informality_rate"] == 0.0


def test_non_english_and_emoji_text_is_handled():
    spanish = t("Es un día precioso en Madrid. ¿Vienes conmigo?")
    assert spanish["sentiment"] == 0.0 and spanish["question_rate"] == 0.5
    assert t("I passed the exam 😀")["sentiment"] > t("I passed the exam")["sentiment"]
    cjk_text = "東京は日本の首都です。とても大きいですか？"
    assert Document(cjk_text).sentences == ["東京は日本の首都です。", "とても大きいですか？"]
    cjk = t(cjk_text)
    assert cjk["sentiment"] == 0.0 and cjk["refusal"] is False and cjk["question_rate"] == 0.5


def test_100_kb_run_on_sentence_scales_linearly():
    from tests.features.test_formatting import growth

    text = "good bad not very nice but ugly " * 3200
    f = t(text)
    assert -1.0 <= f["sentiment"] <= 1.0
    assert growth(t, text) < 24
