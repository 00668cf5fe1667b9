"""The fast VADER port must score exactly as vaderSentiment's own analyzer."""

from __future__ import annotations

import random

import pytest

from drift_monitor.features import _vader
from drift_monitor.features._document import Document

EDGE_CASES = [
    "", "   ", "!!!", "good", "GOOD", "This is GOOD and fine", "not good", "isn't good at all",
    "never so good", "never this bad", "without doubt good", "without a doubt good",
    "no good", "no problem", "no, not bad", "no love or hate", "at least good", "least good",
    "very least good", "kind of good", "sort of bad", "good but bad", "bad but good but bad",
    "the bomb", "that was the shit", "bad ass", "yeah right good", "kiss of death",
    "food to die for", "beating heart", "just enough good", "extremely good!!!!",
    "good??", "good????", "I am SO HAPPY today :)", "sad :( really", "😀", "I passed 😀!",
    "meh 😐 ok", "café is nice", "Es un día precioso", "東京は素晴らしい", "good\tbad\nugly",
    "(good)", "'bad'", "\"great\"", "it's not the worst", "hardly good", "barely bad",
    "kind of", "but", "good but", "but good",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_fast_compound_equals_stock_vader_on_edge_cases(text: str):
    assert _vader.compound(text) == _vader.analyzer().polarity_scores(text)["compound"]


def test_fast_compound_equals_stock_vader_on_every_real_sentence(all_responses: list[str]):
    stock = _vader.analyzer()
    sentences = [s for text in all_responses for s in Document(text).sentences]
    assert len(sentences) > 5000
    mismatches = [s for s in sentences
                  if _vader.compound(s) != stock.polarity_scores(s)["compound"]]
    assert mismatches == []


def test_fast_compound_equals_stock_vader_on_random_lexicon_salad():
    # Dense in lexicon words, boosters, negations and idiom parts: every rule fires often.
    stock = _vader.analyzer()
    lexicon_words = sorted(stock.lexicon)
    rng = random.Random(11)
    extras = ["not", "never", "no", "but", "very", "kind", "of", "least", "at", "so", "this",
              "without", "doubt", "the", "bomb", "GREAT", "BAD", "extremely", "!", "?", "nor",
              "or", "sort", "to", "die", "for", "😀", "☹"]
    for _ in range(2000):
        words = [rng.choice(lexicon_words) if rng.random() < 0.5 else rng.choice(extras)
                 for _ in range(rng.randint(1, 25))]
        text = " ".join(words)
        assert _vader.compound(text) == stock.polarity_scores(text)["compound"], text
