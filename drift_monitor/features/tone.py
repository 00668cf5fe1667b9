"""Tone features: sentiment, refusal, hedging, apology, AI disclaimers, punctuation, address,
politeness and informality.

Everything except ``refusal`` is measured on the prose of the answer (``Document.prose``: fenced
and indented code removed), because code comments and identifiers are not tone. ``refusal``
reads the start of the whole text. VADER and the lexicons are English: other languages get
near-neutral values (VADER still knows a few shared words such as "no"), so a switch of language
shows up as a tone change, which it is. Lexicon words are matched on ``Document.prose_words``
(lowercased, "don't" one word), never by substring.

Units, chosen per feature and fixed by FEATURE_SET_VERSION:

- per sentence (``Document.sentences``): ``hedge_rate``, ``politeness_rate``,
  ``exclamation_rate``, ``question_rate``: hedging and politeness are acts a sentence performs;
  punctuation rates are the fraction of sentences ending in "!" or "?".
- per word (``Document.prose_words``): ``second_person_rate``, ``informality_rate``: these are
  lexical densities.

A response without prose sentences (empty, or only code) gets 0.0 for every rate and sentiment.
"""

from __future__ import annotations

import re
from typing import Any

from drift_monitor.features import _vader
from drift_monitor.features._document import Document
from drift_monitor.features._lexicon import Lexicons
from drift_monitor.features._linear import model
from drift_monitor.features._spec import FeatureSpec, Kind, Value

FAMILY = "tone"


def _spec(name: str, kind: Kind, description: str) -> FeatureSpec:
    return FeatureSpec(name=name, family=FAMILY, kind=kind, description=description)


SPECS: list[FeatureSpec] = [
    _spec("sentiment", "continuous",
          "mean VADER compound score of the prose sentences, -1 (negative) to 1 (positive)"),
    _spec("refusal", "binary",
          "the answer declines the request (TF-IDF + logistic regression, models/refusal.json)"),
    _spec("hedge_rate", "continuous",
          "hedging cues (may, might, perhaps, I think...) per sentence"),
    _spec("apology", "binary", "the answer apologises (sorry, apologise, I regret...)"),
    _spec("ai_disclaimer", "binary",
          "the answer disclaims being an AI ('As an AI language model', 'I don't have "
          "personal opinions'...)"),
    _spec("exclamation_rate", "continuous", "fraction of sentences ending with '!'"),
    _spec("question_rate", "continuous", "fraction of sentences ending with '?'"),
    _spec("second_person_rate", "continuous", "you/your/yours/yourself... per word"),
    _spec("politeness_rate", "continuous",
          "politeness markers (gratitude, please, greetings, deference, offers of help) per "
          "sentence"),
    _spec("informality_rate", "continuous",
          "informal markers (contractions other than 's, slang and interjections, emoji, "
          "'!!'/'?!') per word"),
]

# Epistemic hedges, hand-picked after Hyland's (2005) hedging categories for what assistant
# answers actually say. Plain "could"/"often" are left out: in answers they mostly state ability
# or frequency, not doubt.
_HEDGES = [
    "i think", "i believe", "i guess", "i suppose", "it's possible", "it is possible",
    "not sure", "not entirely sure", "not certain", "not entirely certain", "it depends",
    "in some cases", "to some extent", "tend to", "tends to", "could be", "may be", "might be",
    "as far as i know", "if i recall", "it seems", "more or less", "kind of", "sort of", "may",
    "might", "perhaps", "possibly", "probably", "likely", "unlikely", "apparently",
    "presumably", "arguably", "seemingly", "roughly", "approximately", "somewhat", "generally",
    "typically", "usually", "potentially", "suggest", "suggests", "seem", "seems", "appear",
    "appears", "uncertain", "unclear",
]
_APOLOGIES = [
    "sorry", "apologise", "apologize", "apologised", "apologized", "apologises",
    "apologizes", "apologising", "apologizing", "apologies", "apology", "i regret", "my bad",
    "pardon me",
]
# Words without which no disclaimer below can match: the regex runs only when one is present.
_AI_TRIGGERS = [
    "ai", "artificial", "model", "chatbot", "assistant", "program", "opinions", "feelings",
    "emotions", "beliefs", "preferences", "experiences", "consciousness",
]
_AI_WHAT = (r"(?:ai|a\.i\.|artificial intelligence|(?:large )?language model|ai (?:language )?"
            r"model|ai assistant|ai chatbot|virtual assistant|chatbot|computer program)")
_AI_DISCLAIMER = re.compile(
    rf"\bas an? {_AI_WHAT}\b|\bi['\u2019]?(?:m| am) (?:just |only |merely |simply )?an? "
    rf"{_AI_WHAT}\b|\bi (?:do not|don['\u2019]t|cannot|can['\u2019]t) (?:have|hold|form) "
    r"(?:any )?(?:personal |real )?(?:opinions|feelings|emotions|beliefs|preferences|"
    r"experiences|consciousness)\b",
    re.I)
_SECOND_PERSON = ["you", "your", "yours", "yourself", "yourselves", "you're", "you've",
                  "you'll", "you'd", "y'all"]
# Politeness strategies after Danescu-Niculescu-Mizil et al. (2013), "A computational approach
# to politeness": gratitude, "please", greetings, deference, and the offers of further help that
# assistants add ("feel free to ask", "hope this helps"). Apologies are their own feature.
_POLITE = [
    "thank you", "thanks", "thank", "appreciate", "appreciated", "appreciates", "grateful",
    "please", "hello", "good morning", "good afternoon", "good evening", "dear",
    "great question", "good question", "excellent question", "interesting question",
    "you're right", "you're welcome", "you are right", "you are welcome", "my pleasure",
    "happy to help", "glad to help", "happy to assist", "glad to assist", "feel free",
    "hope this helps", "hope that helps", "let me know if", "don't hesitate",
    "do not hesitate", "would you mind", "kindly", "certainly", "of course", "absolutely",
]
# Informal register: slang and interjections (contractions, emoji and "!!"/"?!" are counted
# separately in _informal).
_SLANG = [
    "hey", "yeah", "yep", "yup", "nope", "gonna", "wanna", "gotta", "kinda", "sorta", "ok",
    "okay", "cool", "awesome", "lol", "btw", "omg", "wow", "haha", "oops", "dude", "stuff",
]
_LEXICONS = Lexicons({"hedge": _HEDGES, "apology": _APOLOGIES, "ai": _AI_TRIGGERS,
                      "you": _SECOND_PERSON, "polite": _POLITE, "slang": _SLANG})
_CONTRACTION_TAILS = frozenset({"m", "re", "ve", "ll", "d", "t"})
_EMOJI = re.compile(r"[\u2600-\u27bf\U0001f000-\U0001faff]")
_REPEATED_MARKS = re.compile(r"[!?]{2,}")
_TRAILING_CLOSERS = "\"')]}*_\u201d\u2019 "
# VADER scores sentences; a run-on "sentence" longer than this (a wall of unpunctuated text)
# is scored in chunks of this many words to keep the cost linear.
_VADER_MAX_WORDS = 150


def _sentiment(sentences: list[str]) -> float:
    scores: list[float] = []
    for s in sentences:
        if len(s) > 6 * _VADER_MAX_WORDS:
            words = s.split()
            for k in range(0, len(words), _VADER_MAX_WORDS):
                scores.append(_vader.compound(" ".join(words[k:k + _VADER_MAX_WORDS])))
        else:
            scores.append(_vader.compound(s))
    return sum(scores) / len(scores) if scores else 0.0


def refusal_probability(doc: Document | str) -> float:
    """The refusal classifier's probability that the response declines the request (0.0 for
    a response without words: an empty answer is not a refusal)."""
    if isinstance(doc, str):
        doc = Document(doc)
    if not doc.words:
        return 0.0
    return model("refusal").probability(doc.text, doc.words)


def _informal(prose: str, words: list[str], slang: int) -> int:
    n = slang + sum(1 for w in words if "'" in w and w.rsplit("'", 1)[1] in _CONTRACTION_TAILS)
    if not prose.isascii():
        n += len(_EMOJI.findall(prose))
    if "!!" in prose or "??" in prose or "!?" in prose or "?!" in prose:
        n += len(_REPEATED_MARKS.findall(prose))
    return n


def compute(doc: Document | str, expect: dict[str, Any] | None = None) -> dict[str, Value]:
    """The tone features of one response (names and kinds in :data:`SPECS`); never None.

    ``expect`` is accepted for the family interface and not used. Raises TypeError for a non-str
    text, OSError/ValueError if the packaged refusal model is missing or corrupt.
    """
    if isinstance(doc, str):
        doc = Document(doc)
    sentences = doc.sentences
    n_sent = len(sentences)
    words = doc.prose_words
    n_words = len(words)
    prose = doc.prose
    ends = [s.rstrip(_TRAILING_CLOSERS)[-1:] for s in sentences]
    hits = _LEXICONS.count(words)
    disclaimer = hits["ai"] > 0 and _AI_DISCLAIMER.search(prose) is not None
    return {
        "sentiment": _sentiment(sentences),
        "refusal": refusal_probability(doc) >= model("refusal").threshold,
        "hedge_rate": hits["hedge"] / n_sent if n_sent else 0.0,
        "apology": hits["apology"] > 0,
        "ai_disclaimer": disclaimer,
        "exclamation_rate": sum(e in "!\uff01" for e in ends if e) / n_sent if n_sent else 0.0,
        "question_rate": sum(e in "?\uff1f" for e in ends if e) / n_sent if n_sent else 0.0,
        "second_person_rate": hits["you"] / n_words if n_words else 0.0,
        "politeness_rate": hits["polite"] / n_sent if n_sent else 0.0,
        "informality_rate": _informal(prose, words, hits["slang"]) / n_words if n_words else 0.0,
    }
