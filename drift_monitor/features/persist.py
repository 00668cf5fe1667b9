"""Features at rest: what is stored with a response, and the version it is stored under.

Measured when a response is stored (runner.py) and recomputed when the version changes
(app/features.py); both use these two, so stored values always match the running code.
"""

from __future__ import annotations

from typing import Any

from drift_monitor.features import FEATURE_SET_VERSION, compute_features


def compute(text: str | None, expect: dict[str, Any] | None) -> dict[str, Any]:
    """Every feature of one response's text (None counts as the empty answer)."""
    return compute_features(text or "", expect)


def current_version() -> str:
    return str(FEATURE_SET_VERSION)
