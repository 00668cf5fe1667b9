"""The Anthropic Messages wire format, against a loopback fake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.providers.base import CallResult
from tests.fakes.llm_servers import Canned, FakeLLMServer
from tests.providers.wire import call, user


@pytest.fixture
def server(fake_server: Callable[..., FakeLLMServer], api_key: str) -> FakeLLMServer:
    return fake_server("anthropic")


def test_request_has_key_version_header_system_and_required_max_tokens(
        server: FakeLLMServer, tmp_path: Path, api_key: str) -> None:
    messages = [{"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Capital of France?"}]
    call(server, tmp_path, messages, {"temperature": 0, "seed": 7, "top_p": 0.9, "stop": "END"})
    seen = server.seen[-1]
    assert seen.path == "/v1/messages"
    assert seen.headers["x-api-key"] == api_key
    assert seen.headers["anthropic-version"] == "2023-06-01"
    assert seen.body == {
        "model": "claude-sonnet-4-20250514", "max_tokens": 1024, "system": "Be terse.",
        "temperature": 0, "top_p": 0.9, "stop_sequences": ["END"],
        "messages": [{"role": "user", "content": "Hi"},
                     {"role": "assistant", "content": "Hello."},
                     {"role": "user", "content": "Capital of France?"}]}
    assert "seed" not in seen.body  # the API has none and would reject it


def test_max_tokens_from_params_wins_and_no_system_key_without_system_messages(
        server: FakeLLMServer, tmp_path: Path) -> None:
    call(server, tmp_path, user("q"), {"max_tokens": 50})
    assert server.seen[-1].body["max_tokens"] == 50
    assert "system" not in server.seen[-1].body


def test_answer_joins_text_blocks_and_keeps_usage_model_stop_reason_and_request_id(
        server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("q", Canned(200, {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x-2025",
        "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "text", "text": "Par"}, {"type": "text", "text": "is"}],
        "stop_reason": "max_tokens", "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 3}},
        headers=(("request-id", "req_abc"),)))
    result = call(server, tmp_path, user("q"))
    assert isinstance(result, CallResult)
    assert (result.text, result.finish_reason, result.finish_category) == \
        ("Paris", "max_tokens", "length")
    assert (result.input_tokens, result.output_tokens) == (13, 5)
    assert (result.model_returned, result.request_id, result.http_status) == \
        ("claude-x-2025", "req_abc", 200)
    assert result.fingerprint is None
    assert result.latency_ms is not None and result.latency_ms > 0


def test_refusal_with_no_text_is_an_answer_not_a_failure(server: FakeLLMServer,
                                                         tmp_path: Path) -> None:
    server.script("q", "safety")
    result = call(server, tmp_path, user("q"))
    assert isinstance(result, CallResult)
    assert (result.text, result.finish_reason, result.finish_category) == \
        ("", "refusal", "safety")


@pytest.mark.parametrize("canned,kind,retryable", [
    (Canned(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
            (("retry-after", "7"),)), ErrorKind.RATE_LIMITED, True),
    (Canned(429, {"type": "error", "error": {
        "type": "rate_limit_error", "message": "You have reached your API usage limits",
        "details": {"error_code": "enforced_spend_limit_reached"}}}), ErrorKind.QUOTA, False),
    (Canned(400, {"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "You have reached your specified API usage limits."}}), ErrorKind.QUOTA, False),
    (Canned(400, {"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "Your credit balance is too low to access the Anthropic API."}}),
     ErrorKind.QUOTA, False),
    (Canned(402, {"type": "error", "error": {"type": "billing_error", "message": "card"}}),
     ErrorKind.QUOTA, False),
    (Canned(529, {"type": "error", "error": {"type": "overloaded_error",
                                             "message": "Overloaded"}}),
     ErrorKind.SERVER_ERROR, True),
    (Canned(403, {"type": "error", "error": {"type": "permission_error", "message": "no"}}),
     ErrorKind.AUTH, False),
    (Canned(413, {"type": "error", "error": {"type": "request_too_large", "message": "big"}}),
     ErrorKind.BAD_REQUEST, False),
])
def test_errors_are_classified_from_status_and_error_body(
        server: FakeLLMServer, tmp_path: Path, canned: Canned, kind: ErrorKind,
        retryable: bool) -> None:
    server.script("q", canned)
    err = call(server, tmp_path, user("q"))
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable, err.status) == (kind, retryable, canned.status)
    if canned.headers:
        assert err.retry_after == 7.0


def test_request_id_is_taken_from_the_error_body_when_the_header_is_missing(
        server: FakeLLMServer, tmp_path: Path) -> None:
    server.script("q", Canned(500, {"type": "error", "error": {"type": "api_error",
                                                               "message": "x"},
                                    "request_id": "req_body"}))
    err = call(server, tmp_path, user("q"))
    assert isinstance(err, ProviderCallError) and err.request_id == "req_body"
