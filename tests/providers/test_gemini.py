"""The Gemini generateContent wire format, against a loopback fake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.providers.base import CallResult
from tests.fakes.llm_servers import Canned, FakeLLMServer
from tests.providers.wire import call, user


@pytest.fixture
def server(fake_server: Callable[..., FakeLLMServer], api_key: str) -> FakeLLMServer:
    return fake_server("gemini")


def test_request_maps_roles_system_instruction_and_generation_config_with_key_in_header(
        server: FakeLLMServer, tmp_path: Path, api_key: str) -> None:
    messages = [{"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Capital of France?"}]
    call(server, tmp_path, messages, {"temperature": 0, "max_tokens": 400, "seed": 7,
                                      "top_p": 0.9, "stop": ["END"],
                                      "safety_settings": [{"category": "X",
                                                           "threshold": "BLOCK_NONE"}],
                                      "thinkingConfig": {"thinkingBudget": 0}},
         model="models/gemini-2.5-flash")
    seen = server.seen[-1]
    assert seen.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == api_key
    assert seen.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]},
                     {"role": "model", "parts": [{"text": "Hello."}]},
                     {"role": "user", "parts": [{"text": "Capital of France?"}]}],
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
        "generationConfig": {"temperature": 0, "maxOutputTokens": 400, "seed": 7, "topP": 0.9,
                             "stopSequences": ["END"], "thinkingConfig": {"thinkingBudget": 0}},
        "safetySettings": [{"category": "X", "threshold": "BLOCK_NONE"}]}


def test_the_key_is_never_in_the_url(server: FakeLLMServer, tmp_path: Path,
                                     caplog: pytest.LogCaptureFixture, api_key: str) -> None:
    caplog.set_level("DEBUG")
    call(server, tmp_path, user("q"))
    assert "key=" not in server.seen[-1].path
    assert api_key not in caplog.text  # httpx logs every request URL at INFO


def test_answer_skips_thought_parts_and_counts_thinking_tokens_as_output(
        server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("q", Canned(200, {
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "let me think", "thought": True}, {"text": "Par"}, {"text": "is"}]},
            "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 2,
                          "thoughtsTokenCount": 40, "totalTokenCount": 50},
        "modelVersion": "gemini-2.5-flash-preview-05-20", "responseId": "abc123"}))
    result = call(server, tmp_path, user("q"))
    assert isinstance(result, CallResult)
    assert (result.text, result.finish_reason) == ("Paris", "STOP")
    assert (result.input_tokens, result.output_tokens) == (8, 42)
    assert (result.model_returned, result.request_id) == ("gemini-2.5-flash-preview-05-20",
                                                          "abc123")


def test_safety_stop_and_blocked_prompt_are_answers(server: FakeLLMServer,
                                                    tmp_path: Path) -> None:
    server.script("q", "safety", "blocked")
    first, second = call(server, tmp_path, user("q")), call(server, tmp_path, user("q"))
    assert isinstance(first, CallResult) and first.finish_reason == "SAFETY"
    assert isinstance(second, CallResult)
    assert (second.text, second.finish_reason, second.finish_category) == \
        ("", "prompt_blocked:SAFETY", "safety")


def test_thinking_that_used_every_token_is_malformed_and_says_why(server: FakeLLMServer,
                                                                  tmp_path: Path) -> None:
    server.script("q", Canned(200, {"candidates": [{"finishReason": "MAX_TOKENS", "index": 0,
                                                    "content": {"role": "model"}}],
                                    "usageMetadata": {"promptTokenCount": 8,
                                                      "thoughtsTokenCount": 400}}))
    err = call(server, tmp_path, user("q"))
    assert isinstance(err, ProviderCallError) and err.kind == ErrorKind.MALFORMED
    assert "MAX_TOKENS" in err.detail


def _exhausted(message: str, *details: Any) -> Canned:
    return Canned(429, {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED",
                                  "details": list(details)}})


RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}


@pytest.mark.parametrize("canned,kind,retry_after", [
    (_exhausted("You exceeded your current quota, please check your plan and billing details.",
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                    {"quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier"}]},
                RETRY_INFO), ErrorKind.RATE_LIMITED, 26.0),
    (_exhausted("Resource has been exhausted (e.g. check quota)."), ErrorKind.RATE_LIMITED, None),
    (_exhausted("You exceeded your current quota.",
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                    {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
                RETRY_INFO), ErrorKind.QUOTA, None),
    (_exhausted("Quota exceeded for metric: generate_content_free_tier_requests, limit: 0"),
     ErrorKind.QUOTA, None),
])
def test_resource_exhausted_is_a_rate_limit_unless_the_quota_lasts_the_day(
        server: FakeLLMServer, tmp_path: Path, canned: Canned, kind: ErrorKind,
        retry_after: float | None) -> None:
    server.script("q", canned)
    err = call(server, tmp_path, user("q"))
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (kind, kind == ErrorKind.RATE_LIMITED)
    if kind == ErrorKind.RATE_LIMITED:
        assert err.retry_after == retry_after


@pytest.mark.parametrize("status,state,kind", [
    (403, "PERMISSION_DENIED", ErrorKind.AUTH), (503, "UNAVAILABLE", ErrorKind.SERVER_ERROR),
    (504, "DEADLINE_EXCEEDED", ErrorKind.SERVER_ERROR),
    (400, "FAILED_PRECONDITION", ErrorKind.BAD_REQUEST)])
def test_google_status_codes(server: FakeLLMServer, tmp_path: Path, status: int, state: str,
                             kind: ErrorKind) -> None:
    server.script("q", Canned(status, {"error": {"code": status, "message": "m",
                                                 "status": state}}))
    err = call(server, tmp_path, user("q"))
    assert isinstance(err, ProviderCallError) and err.kind == kind
