"""Features at rest: computed when a response is stored, recomputed when the version changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drift_monitor.storage.queries import Store


def compute(text: str | None, expect: dict[str, Any] | None) -> dict[str, Any]:
    from drift_monitor.features import compute_features

    return compute_features(text or "", expect)


def current_version() -> str:
    from drift_monitor.features import FEATURE_SET_VERSION

    return str(FEATURE_SET_VERSION)


def recompute(store: Store, *, target: str | None = None, batch: int = 500,
              progress: Callable[[int, int], None] | None = None) -> int:
    """Compute and store features for every successful response whose features are missing or
    from another feature-set version. Returns how many were (re)computed."""
    version = current_version()
    total = store.count_stale_features(version, target=target)
    done = 0
    after = 0
    while True:
        rows = store.stale_feature_rows(version, target=target, after_id=after, limit=batch)
        if not rows:
            break
        store.save_features([(rid, compute(text, expect)) for rid, text, expect in rows],
                            version)
        after = rows[-1][0]
        done += len(rows)
        if progress is not None:
            progress(done, total)
    return done
