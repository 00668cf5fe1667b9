"""VADER's compound score, computed faster but identically.

vaderSentiment 3.3.2's ``polarity_scores`` re-lowercases the whole sentence for every
sentiment-bearing word (inside its negation and idiom checks) and rebuilds the text one character
at a time to replace emoji, which makes it quadratic in sentence length and the slowest part of
the tone features. This module runs the same algorithm with the sentence lowercased once and the
emoji pass skipped for ASCII text. The lexicon, the emoji descriptions and every constant come
from one ``SentimentIntensityAnalyzer`` (created on first use), so this is VADER's model, not a
copy of it; ``tests/features/test_vader.py`` asserts equal scores with the stock analyzer on
every sentence of the bundled real responses and on hand-made edge cases.
"""

from __future__ import annotations

import math
import string
from typing import Any

from vaderSentiment import vaderSentiment as _v

_analyzer: Any = None


def analyzer() -> Any:
    """The process-wide SentimentIntensityAnalyzer (loading its lexicons takes ~50 ms)."""
    global _analyzer
    if _analyzer is None:
        _analyzer = _v.SentimentIntensityAnalyzer()
    return _analyzer


_PUNCT = string.punctuation
_BOOST = _v.BOOSTER_DICT
_NEGATE = frozenset(_v.NEGATE)
_SPECIAL = _v.SPECIAL_CASES
_N_SCALAR = _v.N_SCALAR
_C_INCR = _v.C_INCR
# _idioms can only change a valence when its window holds a word of some multi-word idiom or
# booster; words every such key shares with ordinary prose are left out of the test, which is
# exact as long as each key keeps one word here (checked below).
_IDIOM_KEYS = [k.split() for k in (*_SPECIAL, *_BOOST) if " " in k]
_IDIOM_WORDS = frozenset(w for k in _IDIOM_KEYS for w in k) - {"the", "of", "to", "for"}
assert all(_IDIOM_WORDS.intersection(k) for k in _IDIOM_KEYS)


def _negated(word_lower: str) -> bool:
    return word_lower in _NEGATE or "n't" in word_lower


def _scalar(word: str, word_lower: str, valence: float, cap_diff: bool) -> float:
    scalar = 0.0
    if word_lower in _BOOST:
        scalar = _BOOST[word_lower]
        if valence < 0:
            scalar *= -1
        if word.isupper() and cap_diff:
            scalar = scalar + _C_INCR if valence > 0 else scalar - _C_INCR
    return scalar


def _idioms(valence: float, low: list[str], i: int) -> float:
    onezero = f"{low[i - 1]} {low[i]}"
    twoonezero = f"{low[i - 2]} {low[i - 1]} {low[i]}"
    twoone = f"{low[i - 2]} {low[i - 1]}"
    threetwoone = f"{low[i - 3]} {low[i - 2]} {low[i - 1]}"
    threetwo = f"{low[i - 3]} {low[i - 2]}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in _SPECIAL:
            valence = _SPECIAL[seq]
            break
    if len(low) - 1 > i:
        zeroone = f"{low[i]} {low[i + 1]}"
        if zeroone in _SPECIAL:
            valence = _SPECIAL[zeroone]
    if len(low) - 1 > i + 1:
        zeroonetwo = f"{low[i]} {low[i + 1]} {low[i + 2]}"
        if zeroonetwo in _SPECIAL:
            valence = _SPECIAL[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in _BOOST:
            valence = valence + _BOOST[n_gram]
    return valence


def _negation(valence: float, low: list[str], start_i: int, i: int) -> float:
    if start_i == 0:
        if _negated(low[i - 1]):
            valence = valence * _N_SCALAR
    elif start_i == 1:
        if low[i - 2] == "never" and low[i - 1] in ("so", "this"):
            valence = valence * 1.25
        elif low[i - 2] == "without" and low[i - 1] == "doubt":
            pass
        elif _negated(low[i - 2]):
            valence = valence * _N_SCALAR
    else:
        # The stock operator precedence, kept: (never and (so|this)) or (i-1 is so|this).
        if (low[i - 3] == "never" and low[i - 2] in ("so", "this")) or low[i - 1] in ("so",
                                                                                    "this"):
            valence = valence * 1.25
        elif low[i - 3] == "without" and (low[i - 2] == "doubt" or low[i - 1] == "doubt"):
            pass
        elif _negated(low[i - 3]):
            valence = valence * _N_SCALAR
    return valence


def _valence(lexicon: dict[str, float], words: list[str], low: list[str], i: int,
             cap_diff: bool) -> float:
    item, lw = words[i], low[i]
    if lw not in lexicon:
        return 0
    valence = lexicon[lw]
    n = len(words)
    if lw == "no" and i != n - 1 and low[i + 1] in lexicon:
        valence = 0.0
    if (i > 0 and low[i - 1] == "no") or (i > 1 and low[i - 2] == "no") or (
            i > 2 and low[i - 3] == "no" and low[i - 1] in ("or", "nor")):
        valence = lexicon[lw] * _N_SCALAR
    if item.isupper() and cap_diff:
        valence = valence + _C_INCR if valence > 0 else valence - _C_INCR
    for start_i in range(3):
        j = i - (start_i + 1)
        if i > start_i and low[j] not in lexicon:
            s = _scalar(words[j], low[j], valence, cap_diff)
            if start_i == 1 and s != 0:
                s = s * 0.95
            if start_i == 2 and s != 0:
                s = s * 0.9
            valence = valence + s
            valence = _negation(valence, low, start_i, i)
            if start_i == 2 and not _IDIOM_WORDS.isdisjoint(low[i - 3:i + 3]):
                valence = _idioms(valence, low, i)
    # "least" negation
    if i > 1 and low[i - 1] not in lexicon and low[i - 1] == "least":
        if low[i - 2] != "at" and low[i - 2] != "very":
            valence = valence * _N_SCALAR
    elif i > 0 and low[i - 1] not in lexicon and low[i - 1] == "least":
        valence = valence * _N_SCALAR
    return valence


def _replace_emoji(text: str, emojis: dict[str, str]) -> str:
    out: list[str] = []
    prev_space = True
    for ch in text:
        if ch in emojis:
            if not prev_space:
                out.append(" ")
            out.append(emojis[ch])
            prev_space = False
        else:
            out.append(ch)
            prev_space = ch == " "
    return "".join(out)


def compound(text: str) -> float:
    """VADER's compound score of one sentence, in [-1, 1], rounded to 4 places as VADER does."""
    a = analyzer()
    lexicon: dict[str, float] = a.lexicon
    if not text.isascii():
        text = _replace_emoji(text, a.emojis)
    text = text.strip()
    # SentiText's tokens: punctuation stripped from both ends unless that leaves <= 2 chars.
    words = [t if len(s := t.strip(_PUNCT)) <= 2 else s for t in text.split()]
    low = list(map(str.lower, words))
    # Words outside the lexicon score 0 whatever surrounds them, and so do boosters and
    # "kind of": only lexicon words need the full rules, and without any the score is 0
    # (most sentences of technical answers).
    hits = [i for i, lw in enumerate(low) if lw in lexicon]
    if not hits:
        return 0.0
    n = len(words)
    allcaps = sum(map(str.isupper, words))
    cap_diff = 0 < n - allcaps < n
    sentiments: list[float] = [0] * n
    for i in hits:
        lw = low[i]
        if lw in _BOOST or (i < n - 1 and lw == "kind" and low[i + 1] == "of"):
            continue
        sentiments[i] = _valence(lexicon, words, low, i, cap_diff)
    if "but" in low:
        # Verbatim from VADER, quirks included: index() finds the first equal value.
        bi = low.index("but")
        for sentiment in sentiments:
            si = sentiments.index(sentiment)
            if si < bi:
                sentiments.pop(si)
                sentiments.insert(si, sentiment * 0.5)
            elif si > bi:
                sentiments.pop(si)
                sentiments.insert(si, sentiment * 1.5)
    sum_s = float(sum(sentiments))
    ep = min(text.count("!"), 4) * 0.292
    qm_count = text.count("?")
    qm = 0.0
    if qm_count > 1:
        qm = qm_count * 0.18 if qm_count <= 3 else 0.96
    if sum_s > 0:
        sum_s += ep + qm
    elif sum_s < 0:
        sum_s -= ep + qm
    score = sum_s / math.sqrt(sum_s * sum_s + 15)
    return round(max(-1.0, min(1.0, score)), 4)
