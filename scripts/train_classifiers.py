"""Train the small tone classifiers and write them as plain JSON (never a pickle).

    python scripts/train_classifiers.py            # evaluate, then write the model files
    python scripts/train_classifiers.py --check    # evaluate only, write nothing

Refusal: TF-IDF over word unigrams and bigrams of the first 200 words (the runtime's own
``_linear.terms``) + class-balanced logistic regression, trained on
``drift_monitor/features/data/refusal_labels.jsonl``. Held-out figures come from out-of-fold
predictions of a 5-fold StratifiedGroupKFold with a fixed seed; identical texts (after
normalisation) share a group, so a duplicate never sits on both sides of a split. The final
model is fitted on all rows. The output is deterministic: rerunning rewrites the same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, recall_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline

# Run from a checkout: import this tree's package, not an installed copy.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drift_monitor.features._linear import FORMAT, MAX_WORDS, MODELS_DIR, terms  # noqa: E402
from drift_monitor.features.answers import normalize_text  # noqa: E402

DATA = ROOT / "drift_monitor" / "features" / "data"
LLMDRIFT = ROOT / "drift_monitor" / "data" / "llmdrift_gpt35"
SEED = 20230718
THRESHOLD = 0.5
N_CHECKS = 60


def pipeline() -> Pipeline:
    return Pipeline([
        ("tfidf", TfidfVectorizer(analyzer=terms, sublinear_tf=True, min_df=2)),
        ("lr", LogisticRegression(C=16.0, class_weight="balanced", max_iter=2000)),
    ])


def load_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    pred = p >= THRESHOLD
    return {"precision": round(float(precision_score(y, pred, zero_division=0)), 4),
            "recall": round(float(recall_score(y, pred, zero_division=0)), 4),
            "n": int(len(y)), "positives": int(y.sum())}


def evaluate(texts: list[str], y: np.ndarray, sources: list[str]) -> dict[str, Any]:
    """Out-of-fold probabilities of a grouped, stratified 5-fold split."""
    groups = np.unique([normalize_text(t) for t in texts], return_inverse=True)[1]
    oof = np.zeros(len(texts))
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=SEED)
    for train, test in cv.split(texts, y, groups):
        model = pipeline().fit([texts[i] for i in train], y[train])
        oof[test] = model.predict_proba([texts[i] for i in test])[:, 1]
    real = np.array([s.startswith("llmdrift") for s in sources])
    return {"all": scores(y, oof), "llmdrift_rows": scores(y[real], oof[real]),
            "hand_written_rows": scores(y[~real], oof[~real])}


def other_tasks() -> list[str]:
    """Real GPT-3.5 answers to non-sensitive tasks: none of them is a refusal."""
    texts: list[str] = []
    for task in ("leetcode_easy", "prime_numbers", "opinion_survey"):
        texts += [r["response"] for r in load_rows(LLMDRIFT / f"{task}.jsonl")]
    return texts


def export(model: Pipeline, name: str, checks: list[str], meta: dict[str, Any]) -> dict[str, Any]:
    tfidf: TfidfVectorizer = model.named_steps["tfidf"]
    lr: LogisticRegression = model.named_steps["lr"]
    vocabulary = sorted(tfidf.vocabulary_, key=tfidf.vocabulary_.__getitem__)
    probabilities = model.predict_proba(checks)[:, 1]
    return {
        "format": FORMAT, "name": name, "threshold": THRESHOLD,
        "sublinear_tf": bool(tfidf.sublinear_tf), "norm": tfidf.norm,
        "max_words": MAX_WORDS, "intercept": float(lr.intercept_[0]),
        "vocabulary": vocabulary,
        "idf": [float(v) for v in tfidf.idf_],
        "coef": [float(v) for v in lr.coef_[0]],
        "meta": meta,
        "checks": [{"text": t, "probability": float(p)} for t, p in zip(checks, probabilities,
                                                                           strict=True)],
    }


def train_refusal(write: bool) -> None:
    rows = load_rows(DATA / "refusal_labels.jsonl")
    texts = [r["text"] for r in rows]
    y = np.array([bool(r["refusal"]) for r in rows], dtype=int)
    sources = [r["source"] for r in rows]
    held_out = evaluate(texts, y, sources)
    model = pipeline().fit(texts, y)
    others = other_tasks()
    false_alarms = int((model.predict_proba(others)[:, 1] >= THRESHOLD).sum())

    print(f"refusal: {len(rows)} rows, {int(y.sum())} refusals")
    for subset, m in held_out.items():
        print(f"  held-out {subset:18s} precision {m['precision']:.3f}  "
              f"recall {m['recall']:.3f}  (n={m['n']}, refusals={m['positives']})")
    print(f"  final model on {len(others)} real non-sensitive answers (leetcode, prime, "
          f"opinion): {false_alarms} flagged as refusals")
    if not write:
        return
    rng = np.random.default_rng(SEED)
    picks = sorted(rng.choice(len(texts), size=N_CHECKS // 2, replace=False).tolist())
    picks_other = sorted(rng.choice(len(others), size=N_CHECKS // 2, replace=False).tolist())
    checks = [texts[i] for i in picks] + [others[i] for i in picks_other] + ["", "ok"]
    meta = {"trained_on": "drift_monitor/features/data/refusal_labels.jsonl",
            "rows": len(rows), "refusals": int(y.sum()),
            "held_out": held_out, "cv": f"StratifiedGroupKFold(5, shuffle, seed={SEED})",
            "other_task_false_alarms": {"flagged": false_alarms, "n": len(others)},
            "sklearn": sklearn.__version__}
    out = MODELS_DIR / "refusal.json"
    with out.open("w", encoding="utf-8") as f:
        json.dump(export(model, "refusal", checks, meta), f, ensure_ascii=False)
        f.write("\n")
    print(f"  wrote {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="evaluate only; write nothing")
    args = parser.parse_args()
    train_refusal(write=not args.check)


if __name__ == "__main__":
    main()
