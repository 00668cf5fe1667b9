"""The one clock: aware UTC time, injectable where a test needs to move it.

Code that needs "now" takes a ``now: Clock = utc_now`` parameter instead of calling
``datetime.now`` itself, so incidents, silences, the digest and the console can be tested at any
instant without patching.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)
