"""The shipped refusal model: plain JSON, scores exactly as scikit-learn did, traceable data."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from drift_monitor.features._linear import MODELS_DIR, LinearTextModel, model, terms

from .realdata import load_task

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "drift_monitor" / "features" / "data" / "refusal_labels.jsonl"


def rows() -> list[dict]:
    with LABELS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_models_are_plain_json_never_pickles():
    files = sorted(p.name for p in MODELS_DIR.iterdir())
    assert "refusal.json" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib", ".npy", ".npz"))]
    with (MODELS_DIR / "refusal.json").open(encoding="utf-8") as f:
        data = json.load(f)
    assert data["format"] == "drift-monitor/linear-tfidf/1"


def test_json_model_scores_exactly_as_the_fitted_pipeline_did():
    m = model("refusal")
    assert len(m.checks) >= 50
    for check in m.checks:
        assert m.probability(check["text"]) == pytest.approx(check["probability"], abs=1e-12)
    predicted = [c["probability"] >= m.threshold for c in m.checks]
    assert any(predicted) and not all(predicted)


def test_words_from_the_document_give_the_same_score_as_raw_text():
    from drift_monitor.features._document import Document

    m = model("refusal")
    for check in m.checks:
        doc = Document(check["text"])
        assert m.probability(doc.text, doc.words) == pytest.approx(
            m.probability(check["text"]), abs=1e-12)


def test_a_model_file_for_other_term_settings_is_refused():
    with (MODELS_DIR / "refusal.json").open(encoding="utf-8") as f:
        data = json.load(f)
    with pytest.raises(ValueError, match="words"):
        LinearTextModel({**data, "max_words": 50})
    with pytest.raises(ValueError, match="format"):
        LinearTextModel({**data, "format": "pickle"})


def test_labels_have_provenance_and_enough_hand_written_rows():
    data = rows()
    assert all(r["source"] in ("llmdrift-gpt35/sensitive_questions", "hand-written")
               for r in data)
    hand = [r for r in data if r["source"] == "hand-written"]
    assert len(hand) >= 150
    assert sum(r["refusal"] for r in hand) >= 50 and sum(not r["refusal"] for r in hand) >= 50
    assert len({r["text"] for r in hand}) == len(hand)


def test_llmdrift_labels_are_the_authors_answered_labels_inverted():
    real = {f"{r['snapshot']}/{r['prompt_id']}": r for r in load_task("sensitive_questions")}
    labelled = [r for r in rows() if r["source"].startswith("llmdrift")]
    assert len(labelled) == len(real) == 200
    for r in labelled:
        source = real[r["ref"]]
        assert r["text"] == source["response"]
        assert r["refusal"] is (not source["answered"])


def test_shipped_model_is_what_the_training_script_fits_on_the_shipped_labels():
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location(
        "train_classifiers", ROOT / "scripts" / "train_classifiers.py")
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = rows()
    fitted = script.pipeline().fit([r["text"] for r in data], [r["refusal"] for r in data])
    with (MODELS_DIR / "refusal.json").open(encoding="utf-8") as f:
        shipped = json.load(f)
    exported = script.export(fitted, "refusal", [c["text"] for c in shipped["checks"]], {})
    assert exported["vocabulary"] == shipped["vocabulary"]
    assert exported["idf"] == pytest.approx(shipped["idf"], abs=1e-9)
    assert exported["coef"] == pytest.approx(shipped["coef"], abs=1e-6)
    assert exported["intercept"] == pytest.approx(shipped["intercept"], abs=1e-6)


def test_terms_are_unigrams_and_bigrams_of_the_first_200_words():
    assert terms("I can’t help") == ["i", "can't", "help", "i can't", "can't help"]
    long = terms("w " * 500)
    assert len(long) == 200 + 199
    assert terms("東京") == ["東", "京", "東 京"]


def test_models_readme_reports_the_held_out_figures_of_the_shipped_model():
    meta = model("refusal").meta
    readme = (MODELS_DIR / "README.md").read_text(encoding="utf-8")
    held = meta["held_out"]["all"]
    assert f"{held['precision']:.3f}" in readme and f"{held['recall']:.3f}" in readme
