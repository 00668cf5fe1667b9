"""The provider seam: the request and result shapes every provider shares, and HTTP helpers.

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

import asyncio
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError

if TYPE_CHECKING:
    from drift_monitor.config import TargetConfig

log = logging.getLogger(__name__)

# An LLM answer is kilobytes; anything near this is a broken proxy or a hostile server.
MAX_BODY_BYTES = 4 * 1024 * 1024
EXCERPT_CHARS = 300

# Provider finish reasons grouped by what they mean for the analysis. The raw value is stored;
# these sets let features compare truncation or refusal rates across providers.
_SAFETY_FINISHES = frozenset({
    "content_filter", "refusal",                                   # OpenAI, Anthropic
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT",     # Gemini
    "SPII", "IMAGE_SAFETY", "LANGUAGE",
})
_LENGTH_FINISHES = frozenset({"length", "max_tokens", "MAX_TOKENS",
                              "model_context_window_exceeded"})
_STOP_FINISHES = frozenset({"stop", "end_turn", "stop_sequence", "STOP"})
_TOOL_FINISHES = frozenset({"tool_calls", "function_call", "tool_use", "pause_turn",
                            "MALFORMED_FUNCTION_CALL"})
PROMPT_BLOCKED_PREFIX = "prompt_blocked:"


def finish_category(finish_reason: str | None) -> str:
    """``stop``, ``length``, ``safety``, ``tool`` or ``other`` for any provider's finish reason."""
    if finish_reason is None:
        return "other"
    if finish_reason in _SAFETY_FINISHES or finish_reason.startswith(PROMPT_BLOCKED_PREFIX):
        return "safety"
    if finish_reason in _LENGTH_FINISHES:
        return "length"
    if finish_reason in _STOP_FINISHES:
        return "stop"
    if finish_reason in _TOOL_FINISHES:
        return "tool"
    return "other"


def is_safety_stop(finish_reason: str | None) -> bool:
    return finish_category(finish_reason) == "safety"


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


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(ra).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def default_transport(max_connections: int) -> httpx.AsyncBaseTransport | None:
    """The transport providers use unless one is injected.

    httpx's own pool (httpcore 1.0.x) does per-request bookkeeping that grows with the number of
    connections, which caps a round at concurrency 50 to about an eighth of the ideal rate on
    this project's benchmark (benchmarks/probe_throughput.py); aiohttp's pool does not. So the
    aiohttp transport is used when ``httpx-aiohttp`` is installed; otherwise httpx's default.
    Our code only ever sees httpx's API either way.
    """
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        return None
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    return AiohttpTransport(limits=limits)


@dataclass(frozen=True)
class Reply:
    """A parsed 2xx JSON answer: the object, the raw bytes (for excerpts), status and headers."""

    data: dict[str, Any]
    raw: bytes | bytearray
    status: int
    headers: httpx.Headers
    latency_ms: float


def _is_timeout(exc: BaseException) -> bool:
    """Whether a transport failure was a timeout rather than a refused or dropped connection.

    Checked on the cause chain, not the class: the aiohttp transport reports a refused connection
    as ``httpx.ConnectTimeout``, while the real timeouts of both transports carry a TimeoutError.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return isinstance(exc, httpx.TimeoutException) and exc.__cause__ is None


class HttpProvider(Provider):
    """A provider that speaks JSON over HTTP with bounded reads and classified errors.

    The httpx client is created on first use, inside the running event loop (the aiohttp
    transport binds to it), and closed by :meth:`aclose`, which also closes an injected transport:
    the provider owns what it is given.
    """

    default_base_url: ClassVar[str]
    request_id_header: ClassVar[str] = "x-request-id"

    def __init__(self, target: TargetConfig, *, api_key: str | None, base_dir: Path,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(target, api_key=api_key, base_dir=base_dir, transport=transport)
        self.timeout = target.limits.timeout_s
        self.base_url = (target.base_url or self.default_base_url).rstrip("/") + "/"
        self._client: httpx.AsyncClient | None = None

    def _make_client(self) -> httpx.AsyncClient:
        concurrency = self.target.limits.concurrency
        transport = self.transport
        if transport is None:
            transport = self.transport = default_transport(concurrency)
        log.debug("%s: %s transport", self.target.name,
                  type(transport).__name__ if transport else "httpx default")
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            transport=transport,
            limits=httpx.Limits(max_connections=concurrency,
                                max_keepalive_connections=concurrency),
            follow_redirects=False,
        )

    async def open(self) -> None:
        if self._client is None:
            self._client = self._make_client()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()  # closes the transport too
            self._client = None
        elif self.transport is not None:
            await self.transport.aclose()

    def scrub(self, text: str) -> str:
        """``text`` without the API key, for error details that quote the server."""
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        return text

    def error(self, kind: ErrorKind, detail: str, *, retryable: bool = False,
              status: int | None = None, retry_after: float | None = None,
              request_id: str | None = None) -> ProviderCallError:
        """A ProviderCallError whose detail cannot leak the key."""
        return ProviderCallError(kind, self.scrub(detail), retryable=retryable, status=status,
                                 retry_after=retry_after, request_id=request_id)

    def body_excerpt(self, raw: bytes | bytearray | str) -> str:
        """A bounded excerpt of a server's body for an error detail, without the key."""
        return excerpt(raw, scrub=self.scrub)

    async def post_json(self, path: str, body: dict[str, Any],
                        headers: dict[str, str]) -> Reply:
        """POST ``body`` as JSON and return the parsed 2xx answer.

        The whole exchange has a deadline of the target's timeout, so a server that trickles
        bytes cannot hold a round; a body over MAX_BODY_BYTES is refused as ``malformed`` without
        being kept in memory. Raises ProviderCallError: ``timeout``/``connection`` (retryable),
        the kind :meth:`classify_error` gives an HTTP error status, or ``malformed`` when the
        body is not a JSON object.
        """
        if self._client is None:
            self._client = self._make_client()
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream("POST", path, json=body,
                                               headers=headers) as resp:
                    raw = await self._read_bounded(resp)
        except ProviderCallError:
            raise
        except (TimeoutError, httpx.TransportError) as exc:
            if _is_timeout(exc):
                raise self.error(ErrorKind.TIMEOUT, f"no complete answer within "
                                 f"{self.timeout:g}s", retryable=True) from None
            raise self.error(ErrorKind.CONNECTION, f"connection failed: {type(exc).__name__}: "
                             f"{exc}", retryable=True) from None
        latency_ms = (time.perf_counter() - start) * 1000
        if resp.status_code >= 400:
            raise self.classify_error(resp, raw)
        rid = resp.headers.get(self.request_id_header)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.error(ErrorKind.MALFORMED, f"body is not JSON: {self.body_excerpt(raw)!r}",
                             status=resp.status_code, request_id=rid) from None
        if not isinstance(data, dict):
            raise self.error(ErrorKind.MALFORMED,
                             f"body is not a JSON object: {self.body_excerpt(raw)!r}",
                             status=resp.status_code, request_id=rid)
        return Reply(data=data, raw=raw, status=resp.status_code, headers=resp.headers,
                     latency_ms=latency_ms)

    async def _read_bounded(self, resp: httpx.Response) -> bytearray:
        rid = resp.headers.get(self.request_id_header)
        declared = resp.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise self.error(ErrorKind.MALFORMED, f"response body of {int(declared)} bytes is "
                             f"over the {MAX_BODY_BYTES}-byte limit", status=resp.status_code,
                             request_id=rid)
        buf = bytearray()
        # aiter_bytes decodes gzip/deflate, so the limit also holds for compressed bombs
        async for chunk in resp.aiter_bytes():
            if len(buf) + len(chunk) > MAX_BODY_BYTES:
                raise self.error(ErrorKind.MALFORMED, f"response body over the "
                                 f"{MAX_BODY_BYTES}-byte limit; stopped reading",
                                 status=resp.status_code, request_id=rid)
            buf += chunk
        return buf

    def classify_error(self, resp: httpx.Response, raw: bytes | bytearray) -> ProviderCallError:
        """Map an HTTP error status to an error kind; subclasses refine (quota, overload).

        429 rate_limited and 5xx server_error are retryable (with the server's Retry-After),
        408 is a retryable timeout, 401/403 auth and other 4xx bad_request are permanent.
        """
        status = resp.status_code
        rid = resp.headers.get(self.request_id_header)
        detail = self.body_excerpt(raw)
        retry_after = parse_retry_after(resp.headers)
        if status == 429:
            return self.error(ErrorKind.RATE_LIMITED, detail, retryable=True, status=status,
                              retry_after=retry_after, request_id=rid)
        if status == 408:
            return self.error(ErrorKind.TIMEOUT, detail, retryable=True, status=status,
                              retry_after=retry_after, request_id=rid)
        if status in (401, 403):
            return self.error(ErrorKind.AUTH, detail, status=status, request_id=rid)
        if status >= 500:
            return self.error(ErrorKind.SERVER_ERROR, detail, retryable=True, status=status,
                              retry_after=retry_after, request_id=rid)
        return self.error(ErrorKind.BAD_REQUEST, detail, status=status, request_id=rid)


def json_head(raw: bytes | bytearray) -> dict[str, Any]:
    """The top-level object of a small JSON error body, or {} (large or broken bodies)."""
    if len(raw) > 64 * 1024:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
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
