"""Small text classifiers stored as plain JSON and scored in plain Python: no pickle, no sklearn.

A model file holds what a fitted ``TfidfVectorizer`` + ``LogisticRegression`` need at inference
(vocabulary, idf, coefficients, intercept, the tf/norm settings) plus ``checks``: texts with the
probability scikit-learn gave them when the training script wrote the file. The file therefore
loads on any Python, with no numpy or scikit-learn, and ``tests/features/test_refusal_model.py``
proves it scores exactly as the fitted pipeline did.

The term extractor lives here, and the training script hands this same function to
``TfidfVectorizer(analyzer=...)``, so training and inference cannot tokenise differently.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Any

from drift_monitor.features._document import iter_lower_words

MODELS_DIR = Path(__file__).parent / "models"
FORMAT = "drift-monitor/linear-tfidf/1"

# Refusals and disclaimers live at the start of an answer; a long answer's tail only dilutes
# them and costs time. The limit applies identically in training and at inference.
MAX_WORDS = 200


def terms_from_words(words: list[str]) -> list[str]:
    """Unigrams and bigrams of the first MAX_WORDS of ``words`` (already lowercased, as
    ``Document.words`` has them)."""
    toks = words[:MAX_WORDS]
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]


def terms(text: str) -> list[str]:
    """Lowercased word unigrams and bigrams of the first MAX_WORDS words of ``text``, words as
    ``Document.words`` has them (each CJK character is a word; "can’t" and "can't" are one
    term). This is the analyzer the training script gives TfidfVectorizer."""
    return terms_from_words(list(islice(iter_lower_words(text), MAX_WORDS)))


class LinearTextModel:
    """A TF-IDF + logistic-regression model read from JSON.

    Scoring is plain Python over the few hundred terms of a response: at that size a dict walk
    is faster than numpy's per-call overhead (measured: 60 vs 100 ms for the 1,308 bundled
    responses), and it needs neither numpy nor scikit-learn at inference.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model file (format={data.get('format')!r})")
        self.name: str = data["name"]
        if data.get("max_words") != MAX_WORDS:
            raise ValueError(f"model {self.name} was trained on the first "
                             f"{data.get('max_words')} words, this code reads {MAX_WORDS}")
        if data.get("norm") != "l2":
            raise ValueError(f"model {self.name}: only l2-normalised tf-idf is supported")
        self.threshold: float = float(data["threshold"])
        self.sublinear_tf: bool = bool(data["sublinear_tf"])
        self.intercept: float = float(data["intercept"])
        vocabulary, idf, coef = data["vocabulary"], data["idf"], data["coef"]
        if not (len(vocabulary) == len(idf) == len(coef)):
            raise ValueError(f"model {self.name}: vocabulary, idf and coef lengths differ")
        self.weights: dict[str, tuple[float, float]] = {
            t: (float(i), float(c)) for t, i, c in zip(vocabulary, idf, coef, strict=True)}
        # Out-of-vocabulary terms do not count (as in TfidfVectorizer), so a bigram is only
        # built when its first word starts some bigram of the vocabulary.
        self._heads = frozenset(t.split(" ", 1)[0] for t in vocabulary if " " in t)
        self.checks: list[dict[str, Any]] = data.get("checks", [])
        self.meta: dict[str, Any] = data.get("meta", {})

    @classmethod
    def load(cls, name: str) -> LinearTextModel:
        """Load ``models/<name>.json``. Raises OSError or ValueError for a missing or
        malformed file."""
        with (MODELS_DIR / f"{name}.json").open(encoding="utf-8") as f:
            return cls(json.load(f))

    def probability(self, text: str, words: list[str] | None = None) -> float:
        """P(positive class | text), as ``predict_proba(...)[:, 1]`` gave it at training.

        ``words``, if given, must be ``Document(text).words`` (saves tokenising twice)."""
        if words is None:
            words = list(islice(iter_lower_words(text), MAX_WORDS))
        toks = words[:MAX_WORDS]
        weights, heads = self.weights, self._heads
        found = [t for t in toks if t in weights]
        bigrams = [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False) if a in heads]
        found += [t for t in bigrams if t in weights]
        z = self.intercept
        if found:
            num = den = 0.0
            for term, count in Counter(found).items():
                idf, coef = weights[term]
                v = ((math.log(count) + 1.0) if self.sublinear_tf else count) * idf
                num += v * coef
                den += v * v
            z += num / math.sqrt(den)
        # Numerically stable logistic function.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


_loaded: dict[str, LinearTextModel] = {}


def model(name: str) -> LinearTextModel:
    """The named model, loaded once per process."""
    m = _loaded.get(name)
    if m is None:
        m = _loaded[name] = LinearTextModel.load(name)
    return m
