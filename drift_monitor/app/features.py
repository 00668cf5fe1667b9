"""Features at rest, kept current: the stored features of responses that lack them, or that
were measured by another feature-set version, are computed and saved before anything reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drift_monitor.features.persist import compute, current_version
from drift_monitor.storage.queries import Store


def fill_missing(store: Store, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Compute and store the features of the successful responses among ``rows`` (from
    Store.load_responses) that have none or stale ones, so a feature-version bump never
    silently compares old with new. Returns them by response id (the rows are not changed).
    Raises what the database raises."""
    version = current_version()
    fresh = {r["id"]: compute(r["text"], (r["content"] or {}).get("expect")) for r in rows
             if r["ok"] and (r["values"] is None or r["feature_set_version"] != version)}
    if fresh:
        store.save_features(list(fresh.items()), version)
    return fresh


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
