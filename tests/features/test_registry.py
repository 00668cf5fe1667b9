from __future__ import annotations

import math

import pytest

from drift_monitor.features import (
    FAMILIES,
    FEATURE_SET_VERSION,
    SPECS,
    compute_family,
    compute_features,
)
from drift_monitor.probes import Expect

EXPECTS = [
    None,
    {},
    Expect(format="json", json_schema={"type": "object", "required": ["a"]}).model_dump(
        exclude_none=True),
    Expect(choice={"pattern": r"\[(Yes|No)\]", "reference": "Yes"}).model_dump(exclude_none=True),
    Expect(number={"reference": 3.0, "tolerance": 0.1}, max_words=50,
           contains=["three"]).model_dump(exclude_none=True),
    Expect(text={"reference": "Paris"}, lowercase=True).model_dump(exclude_none=True),
    Expect(json_field={"path": "a.0", "reference": 1}).model_dump(exclude_none=True),
]
TEXTS = ["", "Paris.", '{"a": [1, 2]}', "```json\n{\"a\": 1}\n```", "[Yes] it is. " * 30,
         "# Title\n\n- one\n- two\n\n1. x\n\n| a | b |\n|---|---|\n| 1 | 2 |\n", "😀 ¡Hola! 東京",
         "I'm sorry, but I can't assist with that."]


def check_kind(name: str, value: object) -> None:
    kind = SPECS[name].kind
    if value is None:
        return
    if kind == "binary":
        assert type(value) is bool, (name, value)
    elif kind == "continuous":
        assert isinstance(value, int | float) and not isinstance(value, bool), (name, value)
        assert math.isfinite(value), (name, value)
    else:
        assert isinstance(value, str), (name, value)


@pytest.mark.parametrize("expect", EXPECTS)
@pytest.mark.parametrize("text", TEXTS)
def test_every_feature_is_declared_and_has_its_declared_kind(text: str, expect: dict | None):
    features = compute_features(text, expect)
    assert set(features) == set(SPECS)
    for name, value in features.items():
        check_kind(name, value)


def test_real_responses_have_declared_kinds(all_responses: list[str]):
    for text in all_responses[::7]:
        for name, value in compute_features(text, EXPECTS[3]).items():
            check_kind(name, value)


def test_registry_key_is_the_module_name_and_the_spec_family():
    for key, module in FAMILIES.items():
        assert module.__name__ == f"drift_monitor.features.{key}"
        assert module.SPECS, key
        assert all(spec.family == key for spec in module.SPECS)


def test_specs_cover_each_family_once_with_documented_kinds():
    names = [spec.name for module in FAMILIES.values() for spec in module.SPECS]
    assert len(names) == len(set(names)) == len(SPECS)
    assert all(spec.kind in ("binary", "continuous", "categorical") for spec in SPECS.values())
    assert all(spec.description for spec in SPECS.values())


def test_compute_family_returns_only_that_family():
    out = compute_family("tone", "Thanks!", None)
    assert set(out) == {spec.name for spec in FAMILIES["tone"].SPECS}


def test_non_text_input_is_a_type_error():
    with pytest.raises(TypeError):
        compute_features(None, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compute_features(b"bytes", None)  # type: ignore[arg-type]


def test_feature_set_version_is_a_string():
    assert isinstance(FEATURE_SET_VERSION, str) and FEATURE_SET_VERSION


def test_not_applicable_features_are_none_without_expectations():
    out = compute_features("Just prose.", None)
    for name in ("json_valid", "json_schema_valid", "format_compliant", "answer",
                 "answer_found", "correct"):
        assert out[name] is None, name
    assert out["answer_text_norm"] == "just prose"


def test_none_valued_expect_keys_are_ignored():
    loose = {"format": None, "json_schema": None, "choice": None, "max_words": None}
    assert compute_features("Some text.", loose) == compute_features("Some text.", None)
