"""JSON over HTTP for the providers: the transport, bounded reads and classified failures.

Requests are ``httpx.Request`` objects sent straight to an ``httpx.AsyncBaseTransport``, without
``httpx.AsyncClient`` on top. The client's extras are not needed here (no redirects, auth flows,
cookies or base-URL merging) and cost more per call than the transport itself: about 300
microseconds of CPU, a third of a call's budget at 500 calls a second (see
benchmarks/probe_throughput.py). Cookies, in particular, are never kept, so one probe's answer
cannot steer the next one to a sticky backend.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.httputil import USER_AGENT
from drift_monitor.httputil import retry_after as parse_retry_after
from drift_monitor.providers.base import Provider, excerpt

if TYPE_CHECKING:
    from drift_monitor.config import TargetConfig

log = logging.getLogger(__name__)

# An LLM answer is kilobytes; anything near this is a broken proxy or a hostile server.
MAX_BODY_BYTES = 4 * 1024 * 1024


def env_proxy(url: str) -> str | None:
    """The proxy the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) names for ``url``."""
    parsed = httpx.URL(url)
    # the environment's NO_PROXY, not the OS settings proxy_bypass() would also consult
    if urllib.request.proxy_bypass_environment(parsed.host):  # type: ignore[attr-defined]
        return None
    return urllib.request.getproxies_environment().get(parsed.scheme)


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    # loading the CA bundle costs 40-200 ms: once per process, not once per round
    return httpx.create_ssl_context()


def ssl_context(url: str) -> ssl.SSLContext:
    """The TLS context for ``url``: certificate-checking for https; for plain http, which never
    does TLS, an empty one (it trusts no CA, so it loads nothing and can verify nothing)."""
    if url.startswith("https:"):
        return _verifying_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def default_transport(url: str, max_connections: int) -> httpx.AsyncBaseTransport:
    """The transport providers use for ``url`` unless one is injected.

    httpx's own pool (httpcore 1.0.x) does bookkeeping per request that grows with the number
    of connections: at concurrency 50 a round reached about an eighth of the ideal rate on the
    benchmark, against 0.7-0.8 with aiohttp's pool. So the aiohttp transport is used when
    ``httpx-aiohttp`` is installed, else httpx's. Our code only ever sees httpx's API. A proxy
    named by the environment is honoured either way.
    """
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    proxy = env_proxy(url)
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        return httpx.AsyncHTTPTransport(verify=ssl_context(url), limits=limits, proxy=proxy)
    return AiohttpTransport(verify=ssl_context(url), limits=limits,
                            proxy=httpx.Proxy(proxy) if proxy else None)


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

    Subclasses set ``default_base_url``, return their auth headers from :meth:`auth_headers`,
    and call :meth:`post_json`. The transport is made by :meth:`open` (or the first call), inside
    the running event loop since the aiohttp transport binds to it, and closed by :meth:`aclose`,
    an injected one too: the provider owns what it is given.
    """

    default_base_url: ClassVar[str]
    request_id_header: ClassVar[str] = "x-request-id"

    def __init__(self, target: TargetConfig, *, api_key: str | None, base_dir: Path,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(target, api_key=api_key, base_dir=base_dir, transport=transport)
        self.timeout = target.limits.timeout_s
        self.base_url = (target.base_url or self.default_base_url).rstrip("/") + "/"
        self._urls: dict[str, httpx.URL] = {}
        self._timeouts = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)).as_dict()
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json",
                         "Content-Type": "application/json", **self.auth_headers()}

    def auth_headers(self) -> dict[str, str]:
        """Headers that carry the API key (and API version); none by default."""
        return {}

    async def request_headers(self, url: httpx.URL, content: bytes) -> dict[str, str]:
        """The headers of one request. Fixed by default; providers that sign each request
        (SigV4) or use expiring tokens (Entra ID, Google) override it."""
        return self._headers

    async def open(self) -> None:
        if self.transport is None:
            self.transport = default_transport(self.base_url, self.target.limits.concurrency)

    async def aclose(self) -> None:
        if self.transport is not None:
            await self.transport.aclose()
            self.transport = None

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

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(self.base_url + path)
        return url

    async def post_json(self, path: str, body: dict[str, Any]) -> Reply:
        """POST ``body`` as JSON to ``base_url + path`` and return the parsed 2xx answer.

        The whole exchange has a deadline of the target's timeout, so a server that trickles
        bytes cannot hold a round; a body over MAX_BODY_BYTES is refused as ``malformed`` without
        being kept in memory. Raises ProviderCallError: ``timeout``/``connection`` (retryable),
        the kind :meth:`classify_error` gives an HTTP error status, or ``malformed`` when the
        body is not a JSON object.
        """
        if self.transport is None:
            await self.open()
        assert self.transport is not None
        url = self._url(path)
        content = json.dumps(body).encode()
        request = httpx.Request("POST", url, headers=await self.request_headers(url, content),
                                content=content, extensions={"timeout": self._timeouts})
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.transport.handle_async_request(request)
                try:
                    raw = await self._read_bounded(resp)
                finally:
                    await resp.aclose()
        except ProviderCallError:
            raise
        except (TimeoutError, httpx.TransportError) as exc:
            if _is_timeout(exc):
                raise self.error(ErrorKind.TIMEOUT, f"no complete answer within "
                                 f"{self.timeout:g}s", retryable=True) from None
            raise self.error(ErrorKind.CONNECTION, f"connection failed: {type(exc).__name__}: "
                             f"{exc}", retryable=True) from None
        latency_ms = (time.perf_counter() - start) * 1000
        log.debug("POST %s: HTTP %d in %.0f ms", request.url.path, resp.status_code, latency_ms)
        if resp.status_code >= 400:
            raise self.classify_error(resp, raw)
        rid = resp.headers.get(self.request_id_header)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self.error(ErrorKind.MALFORMED, f"body is not JSON: {self.body_excerpt(raw)!r}",
                             status=resp.status_code, request_id=rid) from None
        except RecursionError:  # [[[[... 100,000 deep: refused, not a traceback
            raise self.error(ErrorKind.MALFORMED, "body is JSON nested too deeply to read",
                             status=resp.status_code, request_id=rid) from None
        if not isinstance(data, dict):
            raise self.error(ErrorKind.MALFORMED,
                             f"body is not a JSON object: {self.body_excerpt(raw)!r}",
                             status=resp.status_code, request_id=rid)
        return Reply(data=data, raw=raw, status=resp.status_code, headers=resp.headers,
                     latency_ms=latency_ms)

    async def _read_bounded(self, resp: httpx.Response) -> bytearray:
        declared = resp.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise self.error(ErrorKind.MALFORMED, f"response body of {int(declared)} bytes is "
                             f"over the {MAX_BODY_BYTES}-byte limit", status=resp.status_code,
                             request_id=resp.headers.get(self.request_id_header))
        buf = bytearray()
        # aiter_bytes decodes gzip/deflate, so the limit also holds for compressed bombs
        async for chunk in resp.aiter_bytes():
            if len(buf) + len(chunk) > MAX_BODY_BYTES:
                raise self.error(ErrorKind.MALFORMED, f"response body over the "
                                 f"{MAX_BODY_BYTES}-byte limit; stopped reading",
                                 status=resp.status_code,
                                 request_id=resp.headers.get(self.request_id_header))
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
