"""Loopback fake LLM servers: real HTTP on 127.0.0.1 with an ephemeral port, one wire format
each (OpenAI chat completions, Anthropic Messages, Gemini generateContent), with switchable faults.

Each server runs aiohttp.web on its own event loop in a background thread, so it serves sync tests
and tests that run their own loop alike, and a stalled client cannot stall it. Faults are
scripted per prompt: ``server.script("p1", "rate_limit", "ok")`` answers the first request whose
last user message is ``p1`` with a 429 and the second normally; prompts without a script get
``server.default``. Every request is recorded in ``server.seen``.

Faults: ok, rate_limit, quota, server_error, overloaded, auth, bad_request, not_found, slow,
trickle, drop, truncated, not_json, empty, empty_text, safety, blocked (Gemini), huge,
huge_chunked; or a :class:`Canned` answer for a wire variant no named fault covers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

DIALECTS = ("openai", "anthropic", "gemini")
HUGE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: Any
    prompt: str
    at: float  # time.monotonic() on arrival


Answer = tuple[int, dict[str, str], Any]


@dataclass(frozen=True)
class Canned:
    """A literal answer: status, JSON body (or raw bytes) and headers."""

    status: int
    body: Any
    headers: tuple[tuple[str, str], ...] = ()


class FakeLLMServer:
    """A fake provider API. Start with :meth:`start` (or ``with``), read ``base_url``."""

    def __init__(self, dialect: str, *, latency_s: float = 0.0) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect
        self.latency_s = latency_s
        self.default = "ok"
        self.model = {"openai": "gpt-4o-2024-08-06", "anthropic": "claude-sonnet-4-20250514",
                      "gemini": "gemini-2.5-flash-001"}[dialect]
        self.fingerprint = "fp_test_1"
        self.retry_after_s = 2.0
        self.usage = (20, 30)
        self.seen: list[Seen] = []
        self._scripts: dict[str, deque[str | Canned]] = defaultdict(deque)
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- control ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + ("/v1beta" if self.dialect == "gemini"
                                                   else "/v1")

    def script(self, prompt: str, *faults: str | Canned) -> None:
        with self._lock:
            self._scripts[prompt].extend(faults)

    def count(self, prompt: str | None = None) -> int:
        return sum(1 for s in self.seen if prompt is None or s.prompt == prompt)

    def start(self) -> FakeLLMServer:
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True,
                                        name=f"fake-{self.dialect}")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5,
                                     handler_cancellation=True)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        ready.set()
        self._loop.run_forever()

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
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        prompt = _last_user_text(self.dialect, body)
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

    def _answer(self, fault: str, prompt: str, n: int, request: web.Request) -> Answer:
        key = request.headers.get({"openai": "Authorization", "anthropic": "x-api-key",
                                   "gemini": "x-goog-api-key"}[self.dialect], "")
        builder = {"openai": _openai, "anthropic": _anthropic, "gemini": _gemini}[self.dialect]
        return builder(self, fault, prompt, n, key)


def _last_user_text(dialect: str, body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if dialect == "gemini":
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


def _retry_headers(srv: FakeLLMServer) -> dict[str, str]:
    return {"retry-after": str(math.ceil(srv.retry_after_s))}


def _openai(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    rid = {"x-request-id": f"req_{n}"}

    def err(status: int, message: str, type_: str, code: str | None = None) -> Answer:
        return status, rid, {"error": {"message": message, "type": type_, "param": None,
                                       "code": code}}

    def completion(content: str | None, finish: str, choices: bool = True) -> Answer:
        return 200, rid, {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1_700_000_000,
            "model": srv.model, "system_fingerprint": srv.fingerprint,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish}] if choices else [],
            "usage": {"prompt_tokens": srv.usage[0], "completion_tokens": srv.usage[1],
                      "total_tokens": sum(srv.usage)}}

    if fault == "ok":
        return completion(f"answer to: {prompt}", "stop")
    if fault == "rate_limit":
        status, headers, body = err(429, "Rate limit reached for requests", "requests",
                                    "rate_limit_exceeded")
        return status, {**headers, **_retry_headers(srv),
                        "retry-after-ms": str(int(srv.retry_after_s * 1000))}, body
    if fault == "quota":
        return err(429, "You exceeded your current quota, please check your plan and billing "
                   "details.", "insufficient_quota", "insufficient_quota")
    if fault == "server_error":
        return err(500, "The server had an error while processing your request.", "server_error")
    if fault == "overloaded":
        return err(503, "The engine is currently overloaded, please try again later.",
                   "server_error")
    if fault == "auth":
        return err(401, f"Incorrect API key provided: {key.removeprefix('Bearer ')}. You can "
                   "find your API key at https://platform.openai.com/account/api-keys.",
                   "invalid_request_error", "invalid_api_key")
    if fault == "bad_request":
        return err(400, "Invalid value for 'temperature'.", "invalid_request_error")
    if fault == "not_found":
        return err(404, "The model does not exist.", "invalid_request_error", "model_not_found")
    if fault == "empty":
        return completion("unused", "stop", choices=False)
    if fault == "empty_text":
        return completion("", "stop")
    if fault == "safety":
        return completion(None, "content_filter")
    raise ValueError(f"fault {fault!r} not supported by the openai fake")


def _anthropic(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    rid = {"request-id": f"req_{n}"}

    def err(status: int, type_: str, message: str, **extra: Any) -> Answer:
        return status, rid, {"type": "error", "error": {"type": type_, "message": message,
                                                        **extra}, "request_id": f"req_{n}"}

    def message(blocks: list[dict[str, Any]], stop: str) -> Answer:
        return 200, rid, {
            "id": f"msg_{n}", "type": "message", "role": "assistant", "model": srv.model,
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": srv.usage[0], "output_tokens": srv.usage[1]}}

    if fault == "ok":
        return message([{"type": "text", "text": f"answer to: {prompt}"}], "end_turn")
    if fault == "rate_limit":
        status, headers, body = err(429, "rate_limit_error",
                                    "Number of request tokens has exceeded your rate limit.")
        return status, {**headers, **_retry_headers(srv)}, body
    if fault == "quota":
        return err(429, "rate_limit_error", "You have reached your API usage limits: your "
                   "organization has crossed its monthly API usage threshold.",
                   details={"error_code": "enforced_spend_limit_reached"})
    if fault == "server_error":
        return err(500, "api_error", "Internal server error")
    if fault == "overloaded":
        return err(529, "overloaded_error", "Overloaded")
    if fault == "auth":
        return err(401, "authentication_error", f"invalid x-api-key: {key}")
    if fault == "bad_request":
        return err(400, "invalid_request_error", "max_tokens: Field required")
    if fault == "not_found":
        return err(404, "not_found_error", "model: claude-nonexistent")
    if fault == "empty":
        return message([], "end_turn")
    if fault == "empty_text":
        return message([{"type": "text", "text": ""}], "end_turn")
    if fault == "safety":
        return message([], "refusal")
    raise ValueError(f"fault {fault!r} not supported by the anthropic fake")


def _gemini(srv: FakeLLMServer, fault: str, prompt: str, n: int, key: str) -> Answer:
    def err(status: int, state: str, message: str, details: list[Any] | None = None) -> Answer:
        return status, {}, {"error": {"code": status, "message": message, "status": state,
                                      **({"details": details} if details else {})}}

    def generated(parts: list[dict[str, Any]] | None, finish: str | None,
                  candidates: bool = True, **extra: Any) -> Answer:
        candidate: dict[str, Any] = {"index": 0, "finishReason": finish}
        if parts is not None:
            candidate["content"] = {"role": "model", "parts": parts}
        return 200, {}, {
            "candidates": [candidate] if candidates else [],
            "usageMetadata": {"promptTokenCount": srv.usage[0],
                              "candidatesTokenCount": srv.usage[1],
                              "totalTokenCount": sum(srv.usage)},
            "modelVersion": srv.model, "responseId": f"resp_{n}", **extra}

    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                  "retryDelay": f"{srv.retry_after_s:g}s"}
    if fault == "ok":
        return generated([{"text": f"answer to: {prompt}"}], "STOP")
    if fault == "rate_limit":
        return err(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check "
                   "your plan and billing details.", [
                       {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                           {"quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                       retry_info])
    if fault == "quota":
        return err(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check "
                   "your plan and billing details.", [
                       {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                           {"quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
                       retry_info])
    if fault == "server_error":
        return err(500, "INTERNAL", "An internal error has occurred.")
    if fault == "overloaded":
        return err(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if fault == "auth":
        return err(400, "INVALID_ARGUMENT", f"API key not valid ({key}). Please pass a valid "
                   "API key.", [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                 "reason": "API_KEY_INVALID",
                                 "domain": "googleapis.com"}])
    if fault == "bad_request":
        return err(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
    if fault == "not_found":
        return err(404, "NOT_FOUND", "models/gemini-nonexistent is not found for API version "
                   "v1beta.")
    if fault == "empty":
        return generated(None, None, candidates=False)
    if fault == "empty_text":
        return generated([{"text": ""}], "STOP")
    if fault == "safety":
        return generated(None, "SAFETY")
    if fault == "blocked":
        return generated(None, None, candidates=False,
                         promptFeedback={"blockReason": "SAFETY"})
    raise ValueError(f"fault {fault!r} not supported by the gemini fake")
