"""The provider seam: the request and result shapes every provider shares, and HTTP helpers.

Error contract: ``Provider.send`` returns a :class:`CallResult` on success and raises
:class:`ProviderCallError` on failure, with ``retryable`` set when another attempt can help
(429 rate limits, 5xx, 529, timeouts, connection errors) and ``retry_after`` when the server
asked for a wait. It never raises anything else for a failed call.
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError

if TYPE_CHECKING:
    from drift_monitor.config import TargetConfig

MAX_BODY_BYTES = 4 * 1024 * 1024
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
    """One successful answer, in the shape shared by every provider."""

    text: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    model_returned: str | None = None
    fingerprint: str | None = None
    request_id: str | None = None
    http_status: int | None = None


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

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def excerpt(data: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


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


class HttpProvider(Provider):
    """A provider that speaks JSON over HTTP with bounded reads and classified errors."""

    default_base_url: ClassVar[str]
    request_id_header: ClassVar[str] = "x-request-id"

    def __init__(self, target: TargetConfig, *, api_key: str | None, base_dir: Path,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(target, api_key=api_key, base_dir=base_dir, transport=transport)
        self.timeout = target.limits.timeout_s
        self._client = httpx.AsyncClient(
            base_url=(target.base_url or self.default_base_url).rstrip("/") + "/",
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            transport=transport,
            limits=httpx.Limits(max_connections=target.limits.concurrency,
                                max_keepalive_connections=target.limits.concurrency),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post_json(self, path: str, body: dict[str, Any],
                        headers: dict[str, str]) -> tuple[dict[str, Any], httpx.Response, float]:
        """POST and return (parsed JSON, response, latency in ms).

        The whole exchange has a deadline of the target's timeout, so a server that trickles
        bytes cannot hold a round; bodies over MAX_BODY_BYTES are refused as malformed.
        """
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream("POST", path, json=body,
                                               headers=headers) as resp:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_BODY_BYTES:
                            raise ProviderCallError(
                                ErrorKind.MALFORMED,
                                f"response body larger than {MAX_BODY_BYTES} bytes",
                                retryable=False, status=resp.status_code,
                                request_id=resp.headers.get(self.request_id_header))
                        chunks.append(chunk)
                    raw = b"".join(chunks)
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderCallError(ErrorKind.TIMEOUT, f"no complete answer within "
                                    f"{self.timeout:g}s", retryable=True) from None
        except httpx.TransportError as exc:
            raise ProviderCallError(ErrorKind.SERVER_ERROR,
                                    f"connection failed: {type(exc).__name__}: {exc}",
                                    retryable=True) from None
        latency_ms = (time.perf_counter() - start) * 1000
        if resp.status_code >= 400:
            raise self.classify_error(resp, raw)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ProviderCallError(ErrorKind.MALFORMED, f"body is not JSON: {excerpt(raw)!r}",
                                    retryable=False, status=resp.status_code,
                                    request_id=resp.headers.get(self.request_id_header)) from None
        if not isinstance(data, dict):
            raise ProviderCallError(ErrorKind.MALFORMED,
                                    f"body is not a JSON object: {excerpt(raw)!r}",
                                    retryable=False, status=resp.status_code)
        return data, resp, latency_ms

    def classify_error(self, resp: httpx.Response, raw: bytes) -> ProviderCallError:
        """Map an HTTP error status to an error kind; subclasses refine (quota, overload)."""
        status = resp.status_code
        rid = resp.headers.get(self.request_id_header)
        detail = excerpt(raw)
        retry_after = parse_retry_after(resp.headers)
        if status == 429:
            return ProviderCallError(ErrorKind.RATE_LIMITED, detail, retryable=True,
                                     status=status, retry_after=retry_after, request_id=rid)
        if status in (401, 403):
            return ProviderCallError(ErrorKind.AUTH, detail, retryable=False, status=status,
                                     request_id=rid)
        if status >= 500:
            return ProviderCallError(ErrorKind.SERVER_ERROR, detail, retryable=True,
                                     status=status, retry_after=retry_after, request_id=rid)
        return ProviderCallError(ErrorKind.BAD_REQUEST, detail, retryable=False, status=status,
                                 request_id=rid)
