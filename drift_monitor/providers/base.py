"""The provider seam: the request and result shapes every provider shares, and the helpers
providers use to read answers they cannot trust (``providers._http`` has the HTTP plumbing).

Error contract: ``Provider.send`` returns a :class:`CallResult` on success and raises
:class:`ProviderCallError` on failure, with ``retryable`` set when another attempt can help
(429 rate limits, 5xx, 529, timeouts, connection errors) and ``retry_after`` when the server
asked for a wait. It never raises anything else for a failed call, and no error detail it
produces contains the API key.

A safety or content-filter stop is an answer, not a failure: it comes back as a CallResult whose
``finish_reason`` says so (``content_filter``, ``refusal``, ``SAFETY``, ...), possibly with empty
text. Any other answer without text is ``malformed``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from drift_monitor.errors import ConfigError
from drift_monitor.finishes import finish_category

if TYPE_CHECKING:
    import httpx

    from drift_monitor.config import TargetConfig

EXCERPT_CHARS = 300

@dataclass(frozen=True)
class ProbeRequest:
    """One call to make: the probe's messages and the target's request parameters."""

    messages: tuple[dict[str, str], ...]
    params: dict[str, Any] = field(default_factory=dict)
    probe_id: str = ""
    sample_index: int = 0


@dataclass(frozen=True)
class CallResult:
    """One successful answer, in the shape shared by every provider.

    ``model_returned`` is the model string the provider says answered; ``fingerprint`` is its
    build or version marker when it sends one (OpenAI ``system_fingerprint``). Token counts are
    what the provider bills: Gemini's thinking tokens count as output.
    """

    text: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    model_returned: str | None = None
    fingerprint: str | None = None
    request_id: str | None = None
    http_status: int | None = None
    reasoning_tokens: int | None = None  # part of output_tokens, when reported apart

    @property
    def finish_category(self) -> str:
        return finish_category(self.finish_reason)


class Provider(ABC):
    """Base class of every provider. Subclasses implement :meth:`send`."""

    name: ClassVar[str]

    def __init__(self, target: TargetConfig, *, api_key: str | None, base_dir: Path,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.target = target
        self._api_key = api_key
        self.base_dir = base_dir
        self.transport = transport

    @classmethod
    def config_problems(cls, target: TargetConfig) -> list[str]:
        """What is wrong with ``target`` for this provider kind, found without the network
        (endpoint shape, version formats, a missing extra or credentials): one line each."""
        return []

    @abstractmethod
    async def send(self, request: ProbeRequest) -> CallResult:
        """Make one call. Raises ProviderCallError on failure (see the module docstring)."""

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare connections inside the running loop; ``send`` does it too when needed.

        The runner calls it before the first call, so set-up time is not charged to the first
        call's latency or squeezed into its rate-limit slot.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def missing_extra(module: str, extra: str, kind: str) -> str | None:
    """None when ``module`` can be imported (it is not imported here); else one line of advice
    naming the extra to install."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a None in sys.modules
        found = False
    if found:
        return None
    return (f"provider {kind} needs {module.split('.')[0]}: "
            f"pip install 'drift-monitor[{extra}]'")


def raise_problems(target: TargetConfig, problems: list[str]) -> None:
    """ConfigError naming the target when ``problems`` (from ``config_problems``) is not empty."""
    if problems:
        raise ConfigError("; ".join(problems), key=f"targets[{target.name}]")


def excerpt(data: bytes | bytearray | str, limit: int = EXCERPT_CHARS,
            scrub: Callable[[str], str] | None = None) -> str:
    """At most ``limit`` characters of ``data``, saying how much there was.

    Only the head of a large body is decoded, so a 4 MB body never becomes a 4 MB string.
    ``scrub`` runs before the cut, so a secret the cut would split is still removed.
    """
    if isinstance(data, bytes | bytearray):
        total = f"{len(data)} bytes"
        cut = len(data) > limit * 4
        text = bytes(data[: limit * 4]).decode("utf-8", "replace")
    else:
        total, cut, text = f"{len(data)} chars", False, data
    if scrub is not None:
        text = scrub(text)
    if len(text) <= limit and not cut:
        return text
    return text[:limit] + f"... [{total} in all]"


def json_head(raw: bytes | bytearray) -> dict[str, Any]:
    """The top-level object of a small JSON error body, or {} (large or broken bodies)."""
    if len(raw) > 64 * 1024:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return {}
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # some Google front ends wrap the error in a list
    return data if isinstance(data, dict) else {}


def error_json(raw: bytes | bytearray) -> dict[str, Any]:
    """The ``error`` object of a JSON error body (OpenAI, Anthropic, Google all use one), or {}."""
    err = json_head(raw).get("error")
    return err if isinstance(err, dict) else {}


def as_int(v: Any) -> int | None:
    """``v`` if it is a real int (not a bool), else None."""
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def as_str(v: Any) -> str | None:
    """``v`` if it is a non-empty string, else None."""
    return v if isinstance(v, str) and v else None


def as_dict(v: Any) -> dict[str, Any]:
    """``v`` if it is a JSON object, else {}: answers are read without trusting their shape."""
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []
