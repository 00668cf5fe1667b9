"""What one feature is: its name, family, statistical kind and meaning."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["binary", "continuous", "categorical"]
Value = bool | int | float | str | None


@dataclass(frozen=True)
class FeatureSpec:
    """One feature's contract.

    ``kind`` decides the test detection runs: ``binary`` values are bools (exact tests),
    ``continuous`` values are ints or floats (rank tests), ``categorical`` values are strings
    (mismatch rates). Any feature may be None: "not applicable to this probe or response".
    """

    name: str
    family: str
    kind: Kind
    description: str


def clean_expect(expect: dict[str, Any] | None) -> dict[str, Any]:
    """``expect`` without None values ({} for None): ``Expect.model_dump(exclude_none=True)``
    already looks like this; a hand-built dict may not."""
    if not expect:
        return {}
    return {k: v for k, v in expect.items() if v is not None}
