"""Behaviour features of a response: formatting, tone and answers.

A family is one module with ``SPECS`` (its :class:`FeatureSpec` list) and
``compute(doc, expect) -> dict``; its registry key is its module name. A new family is one new
module and one line in :data:`FAMILIES` (drift_monitor/registry.py).

Feature values are ``bool`` (binary), ``int``/``float`` (continuous) or ``str`` (categorical),
or None for "not applicable to this probe or response" (``json_valid`` when the probe does not
expect JSON, ``correct`` without a reference...). Bump :data:`FEATURE_SET_VERSION` whenever any
feature changes meaning, so stored values computed by different code are never compared.
"""

from __future__ import annotations

from typing import Any

from drift_monitor.features._document import Document
from drift_monitor.features._spec import FeatureSpec, Kind, Value
from drift_monitor.registry import FAMILIES

__all__ = ["FAMILIES", "FEATURE_SET_VERSION", "SPECS", "Document", "FeatureSpec", "Kind",
           "Value", "compute_family", "compute_features"]

FEATURE_SET_VERSION = "1"

def _collect() -> dict[str, FeatureSpec]:
    specs: dict[str, FeatureSpec] = {}
    for family, module in FAMILIES.items():
        for spec in module.SPECS:
            if spec.family != family:
                raise RuntimeError(f"feature {spec.name} says family {spec.family}, "
                                   f"registered under {family}")
            if spec.name in specs:
                raise RuntimeError(f"feature name {spec.name} is used by {family} and "
                                   f"{specs[spec.name].family}")
            specs[spec.name] = spec
    return specs


SPECS: dict[str, FeatureSpec] = _collect()


def compute_features(text: str, expect: dict[str, Any] | None) -> dict[str, Value]:
    """Every family's features of one response, as one flat dict keyed like :data:`SPECS`.

    ``expect`` is the probe's ``Expect.model_dump(exclude_none=True)`` or None. Values are
    None where a feature does not apply. Raises TypeError when ``text`` is not a str and
    ValueError for an ``expect`` that Expect would have rejected (an invalid pattern or format).
    """
    doc = Document(text)
    out: dict[str, Value] = {}
    for module in FAMILIES.values():
        out.update(module.compute(doc, expect))
    return out


def compute_family(family: str, text: str | Document,
                   expect: dict[str, Any] | None) -> dict[str, Value]:
    """One family's features. Raises UnknownPluginError (a KeyError) for an unknown family."""
    return FAMILIES.load(family).compute(text, expect)
