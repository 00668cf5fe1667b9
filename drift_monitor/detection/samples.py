"""What a check compares: the baseline's responses and the window's, grouped by probe."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from drift_monitor.probes import probe_name


@dataclass(frozen=True)
class Sample:
    """One stored response (successful or failed) with its features."""

    probe: str  # "suite/probe-id@version": responses of different versions never mix
    run_id: int
    ok: bool
    text: str | None = None
    features: dict[str, Any] = field(default_factory=dict)
    error_kind: str | None = None
    model_returned: str | None = None
    fingerprint: str | None = None
    latency_ms: float | None = None
    finish_reason: str | None = None
    output_tokens: int | None = None


@dataclass
class Side:
    """All responses of one side of a comparison (the baseline or the window)."""

    samples: list[Sample]

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.ok]

    @property
    def run_ids(self) -> list[int]:
        return sorted({s.run_id for s in self.samples})

    def by_probe(self) -> dict[str, list[Sample]]:
        """Successful samples per probe; failures are never behaviour samples."""
        out: dict[str, list[Sample]] = defaultdict(list)
        for s in self.samples:
            if s.ok:
                out[s.probe].append(s)
        return dict(out)

    def restricted(self, probes: set[str]) -> Side:
        return Side([s for s in self.samples if s.probe in probes])

    def without_run(self, run_id: int) -> Side:
        return Side([s for s in self.samples if s.run_id != run_id])

    def only_run(self, run_id: int) -> Side:
        return Side([s for s in self.samples if s.run_id == run_id])


def edited_probes(base: Side, cur: Side) -> list[str]:
    """Probe ids answered in the window under a version the baseline does not have."""
    base_keys = {s.probe for s in base.samples}
    base_ids = {probe_name(k) for k in base_keys}
    return sorted({probe_name(s.probe) for s in cur.samples
                   if s.probe not in base_keys and probe_name(s.probe) in base_ids})
