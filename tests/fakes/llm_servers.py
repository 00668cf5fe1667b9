"""Loopback fake LLM servers: real HTTP on 127.0.0.1 with an ephemeral port, one wire format
each (OpenAI chat completions, Anthropic Messages, Gemini generateContent; Azure OpenAI, Bedrock
Converse, Vertex AI generateContent and the OpenAI Responses API, whose credentials are checked
as the real services check them: see tests.fakes.cloud), with switchable faults.

Each server runs aiohttp.web on its own event loop in a background thread, so it serves sync tests
and tests that run their own loop alike, and a stalled client cannot stall it. Faults are
scripted per prompt: ``server.script("p1", "rate_limit", "ok")`` answers the first request whose
last user message is ``p1`` with a 429 and the second normally; prompts without a script get
``server.default``. Every request is recorded in ``server.seen``.

Faults: ok, rate_limit, quota, server_error, overloaded, auth, bad_request, not_found, slow,
trickle, drop, truncated, not_json, empty, empty_text, safety, blocked (Gemini), huge,
huge_chunked, prompt_filtered (Azure), incomplete, reasoning_only, failed (Responses API),
not_ready (Bedrock); or a :class:`Canned` answer for a wire variant no named fault covers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes import cloud
from tests.fakes.aio import ThreadedAioServer
from tests.fakes.dialects import ANSWERS, Answer

DIALECTS = ("openai", "anthropic", "gemini", "azure_openai", "bedrock", "vertex",
            "openai_responses")
MODELS = {"openai": "gpt-4o-2024-08-06", "anthropic": "claude-sonnet-4-20250514",
          "gemini": "gemini-2.5-flash-001", "azure_openai": "gpt-4o-2024-08-06",
          "bedrock": "anthropic.claude-3-5-sonnet-20240620-v1:0",
          "vertex": "gemini-1.5-pro-002", "openai_responses": "gpt-4.1-2025-04-14"}
_BASE_PATHS = {"gemini": "/v1beta", "vertex": "/v1", "azure_openai": "", "bedrock": ""}
HUGE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: Any
    prompt: str
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True)
class Canned:
    """A literal answer: status, JSON body (or raw bytes) and headers."""

    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


class FakeLLMServer(ThreadedAioServer):
    """A fake provider API. Start with :meth:`start` (or ``with``), read ``base_url``."""

    runner_options = {"handler_cancellation": True}

    def __init__(self, dialect: str, *, latency_s: float = 0.0,
                 api_key: str | None = None) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}")
        super().__init__()
        self.dialect = dialect
        self.thread_name = f"fake-{dialect}"
        self.latency_s = latency_s
        self.default = "ok"
        self.model = MODELS[dialect]
        # credentials the cloud fakes accept (see tests.fakes.cloud)
        self.api_key = api_key
        self.entra_tokens: list[str] = []
        self.aws = cloud.AwsKeys()
        self.google_public_keys: dict[str, str] = {}
        self.google_tokens: list[str] = []
        self.token_ttl_s = 3600
        self.auth_failures: list[str] = []
        self.signatures: list[str] = []
        self.reasoning_tokens = 12
        self.fingerprint = "fp_test_1"
        self.retry_after_s = 2.0
        self.usage = (20, 30)
        self.seen: list[Seen] = []
        self._scripts: dict[str, deque[str | Canned]] = defaultdict(deque)
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- control ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + _BASE_PATHS.get(self.dialect, "/v1")

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint of the Vertex fake (a service account's token_uri)."""
        return f"http://127.0.0.1:{self.port}/token"

    def script(self, prompt: str, *faults: str | Canned) -> None:
        with self._lock:
            self._scripts[prompt].extend(faults)

    def count(self, prompt: str | None = None) -> int:
        return sum(1 for s in self.seen if prompt is None or s.prompt == prompt)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    # --- serving ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._respond(request)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if self.dialect == "vertex" and request.path == "/token":
            status, headers, payload = cloud.google_token_endpoint(self, raw)
            return web.json_response(payload, status=status, headers=headers)
        body = cloud.json_body(raw)
        prompt = _last_user_text(self.dialect, body)
        denied = self._check_credentials(request, raw)
        if denied is not None:
            with self._lock:
                self.seen.append(Seen(request.path, dict(request.headers), body, prompt,
                                      time.monotonic()))
            return web.json_response(denied[2], status=denied[0], headers=denied[1])
        with self._lock:
            self.seen.append(Seen(request.path, dict(request.headers), body, prompt,
                                  time.monotonic()))
            queue = self._scripts.get(prompt)
            fault = queue.popleft() if queue else self.default
            n = next(self._ids)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if isinstance(fault, Canned):
            if isinstance(fault.body, bytes):
                return web.Response(status=fault.status, body=fault.body,
                                    headers=dict(fault.headers))
            return web.json_response(fault.body, status=fault.status,
                                     headers=dict(fault.headers))
        if fault == "slow":
            return await _wait_for_disconnect(request)
        if fault == "trickle":
            return await _trickle(request)
        if fault == "drop":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault == "huge_chunked":
            return await _stream_huge(request)
        if fault == "truncated":
            return await _truncated(request)
        if fault == "huge":
            filler = "x" * HUGE_BYTES
            return web.Response(body=json.dumps({"filler": filler}).encode(),
                                content_type="application/json")
        if fault == "not_json":
            return web.Response(status=200, text="<html><body>502 Bad Gateway</body></html>",
                                content_type="text/html")
        status, headers, payload = self._answer(fault, prompt, n, request)
        return web.json_response(payload, status=status, headers=headers)

    def _check_credentials(self, request: web.Request, raw: bytes) -> Answer | None:
        if self.dialect == "azure_openai":
            return cloud.check_azure(self, request)
        if self.dialect == "bedrock":
            return cloud.check_sigv4(self, request, raw)
        if self.dialect == "vertex":
            return cloud.check_google_token(self, request)
        if self.dialect == "openai_responses":
            return cloud.check_bearer(self, request)
        return None

    def _answer(self, fault: str, prompt: str, n: int, request: web.Request) -> Answer:
        # what the auth faults quote back: a real service may echo any of it in an error
        key = request.headers.get({"openai": "Authorization", "anthropic": "x-api-key",
                                   "gemini": "x-goog-api-key", "azure_openai": "api-key",
                                   "bedrock": "X-Amz-Security-Token",
                                   "vertex": "Authorization",
                                   "openai_responses": "Authorization"}[self.dialect], "")
        if self.dialect == "azure_openai" and not key:
            key = request.headers.get("Authorization", "")
        return ANSWERS[self.dialect](self, fault, prompt, n, key)


def _last_user_text(dialect: str, body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if dialect == "bedrock":
        turns = [m for m in body.get("messages", []) if m.get("role") == "user"]
        return "".join(c.get("text", "") for c in turns[-1]["content"]) if turns else ""
    if dialect == "openai_responses":
        turns = [m for m in body.get("input", []) if m.get("role") == "user"]
        return str(turns[-1]["content"]) if turns else ""
    if dialect in ("gemini", "vertex"):
        turns = [c for c in body.get("contents", []) if c.get("role") == "user"]
        return "".join(p.get("text", "") for p in turns[-1]["parts"]) if turns else ""
    turns = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return str(turns[-1]["content"]) if turns else ""


async def _wait_for_disconnect(request: web.Request) -> web.StreamResponse:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if request.transport is None or request.transport.is_closing():
            break
        await asyncio.sleep(0.02)
    return web.Response(status=504)


async def _trickle(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = 100_000
    await resp.prepare(request)
    try:
        for _ in range(100_000):
            await resp.write(b" ")
            await asyncio.sleep(0.02)
    except (ConnectionError, RuntimeError):
        pass
    return resp


async def _truncated(request: web.Request) -> web.StreamResponse:
    """Promise 1000 bytes, send 10, hang up."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = 1000
    await resp.prepare(request)
    await resp.write(b'{"choices"')
    await asyncio.sleep(0.01)
    assert request.transport is not None
    request.transport.abort()
    return resp


async def _stream_huge(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    chunk = b"x" * 65536
    try:
        await resp.write(b'{"filler": "')
        for _ in range(HUGE_BYTES // len(chunk)):
            await resp.write(chunk)
        await resp.write(b'"}')
        await resp.write_eof()
    except (ConnectionError, RuntimeError):
        pass
    return resp
