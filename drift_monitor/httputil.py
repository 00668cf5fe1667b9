"""What every HTTP client of the package (the providers and the channels) reads the same way.

Low in the layers on purpose: it imports nothing of drift_monitor, so the provider plumbing and
the channel plumbing share one parser instead of each keeping a copy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from drift_monitor import __version__

USER_AGENT = f"drift-monitor/{__version__}"


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    """A header's value whatever the mapping's key case (httpx.Headers, a plain dict) and
    whether it holds a string or a list of them (slack-sdk)."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return None if value is None else str(value)


def retry_after(headers: Mapping[str, Any] | None, *,
                now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date),
    never negative; None without a readable one."""
    if not headers:
        return None
    ms = _header(headers, "retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = _header(headers, "retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now())
        except (TypeError, ValueError):
            return None
