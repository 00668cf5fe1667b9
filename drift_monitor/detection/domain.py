"""The domain classifier: can a model tell current answers from baseline ones?

TF-IDF over words and punctuation runs + logistic regression, cross-validated with probes
grouped (a fold never sees the probes it is scored on, so only a change that generalises
across prompts counts), and a permutation null that shuffles sides within each probe. The
largest weights of a model fitted on everything explain what changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drift_monitor.detection import stats
from drift_monitor.detection.samples import Sample, Side

MIN_PER_SIDE = 20
# enough text to tell two sides apart; more only costs time (a large check is subsampled,
# evenly per probe, with a fixed seed)
MAX_PER_SIDE = 1500
FOLDS = 5
TOP_TERMS = 6
MAX_FEATURES = 20000
# words, and runs of markdown punctuation such as ``` or ** or ##, which carry format changes
TOKEN_PATTERN = r"(?u)\b\w\w+\b|[`*#>|_~-]{2,}"


@dataclass(frozen=True)
class DomainResult:
    auc: float
    p_value: float
    n_base: int
    n_cur: int
    more_now: list[str]
    less_now: list[str]


def domain_classifier(base: Side, cur: Side, *, seed: int = 0) -> DomainResult | None:
    """Cross-validated AUC and permutation p-value; None when there is too little text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    common = set(base.by_probe()) & set(cur.by_probe())
    b = _cap([s for s in base.ok if s.probe in common and s.text], seed)
    c = _cap([s for s in cur.ok if s.probe in common and s.text], seed)
    if len(b) < MIN_PER_SIDE or len(c) < MIN_PER_SIDE or len(common) < FOLDS:
        return None
    texts = [s.text or "" for s in b + c]
    y = np.r_[np.zeros(len(b)), np.ones(len(c))]
    groups = np.array([s.probe for s in b + c])
    vec = TfidfVectorizer(token_pattern=TOKEN_PATTERN, sublinear_tf=True, min_df=2,
                          max_features=MAX_FEATURES, dtype=np.float32)
    try:
        x = vec.fit_transform(texts)
    except ValueError:  # empty vocabulary
        return None
    scores = np.zeros(len(texts))
    for train, test in GroupKFold(n_splits=FOLDS).split(x, y, groups):
        if len(set(y[train])) < 2:
            scores[test] = 0.5
            continue
        model = LogisticRegression(C=1.0, solver="liblinear", random_state=seed)
        model.fit(x[train], y[train])
        scores[test] = model.decision_function(x[test])
    auc, p = stats.permutation_auc_p(scores, y, groups, seed=seed)
    model = LogisticRegression(C=1.0, solver="liblinear", random_state=seed).fit(x, y)
    names = vec.get_feature_names_out()
    coef = model.coef_[0]
    order = np.argsort(coef)
    more = [str(names[i]) for i in order[::-1][:TOP_TERMS] if coef[i] > 0]
    less = [str(names[i]) for i in order[:TOP_TERMS] if coef[i] < 0]
    return DomainResult(auc=auc, p_value=p, n_base=len(b), n_cur=len(c), more_now=more,
                        less_now=less)


def _cap(samples: list[Sample], seed: int) -> list[Sample]:
    """At most MAX_PER_SIDE samples, the same share of every probe's."""
    if len(samples) <= MAX_PER_SIDE:
        return samples
    import random

    rng = random.Random(seed)
    keep = MAX_PER_SIDE / len(samples)
    by_probe: dict[str, list[Sample]] = {}
    for s in samples:
        by_probe.setdefault(s.probe, []).append(s)
    out: list[Sample] = []
    for group in by_probe.values():
        out.extend(rng.sample(group, max(1, round(len(group) * keep))))
    return out
