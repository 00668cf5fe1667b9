"""The OpenAI chat completions wire format, against a loopback fake."""

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
    return fake_server("openai")


def test_request_sends_params_as_written_with_bearer_key(server: FakeLLMServer, tmp_path: Path,
                                                         api_key: str) -> None:
    messages = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "q"}]
    call(server, tmp_path, messages, {"temperature": 0, "max_tokens": 400, "seed": 7})
    seen = server.seen[-1]
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {api_key}"
    assert seen.body == {"model": "gpt-4o", "messages": messages, "temperature": 0,
                         "max_tokens": 400, "seed": 7}


def test_answer_keeps_model_fingerprint_usage_finish_and_request_id(server: FakeLLMServer,
                                                                    tmp_path: Path) -> None:
    server.fingerprint = "fp_44709d6fcb"
    result = call(server, tmp_path, user("q"))
    assert isinstance(result, CallResult)
    assert result.text == "answer to: q"
    assert (result.finish_reason, result.input_tokens, result.output_tokens) == ("stop", 20, 30)
    assert (result.model_returned, result.fingerprint) == ("gpt-4o-2024-08-06", "fp_44709d6fcb")
    assert result.request_id and result.request_id.startswith("req_")


def test_structured_output_refusal_is_recorded_as_a_refusal(server: FakeLLMServer,
                                                            tmp_path: Path) -> None:
    server.script("q", Canned(200, {"model": "gpt-4o", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": None, "refusal": "I can't help with that."},
        "finish_reason": "stop"}]}))
    result = call(server, tmp_path, user("q"))
    assert isinstance(result, CallResult)
    assert (result.text, result.finish_reason) == ("I can't help with that.", "refusal")


@pytest.mark.parametrize("code,kind", [("insufficient_quota", ErrorKind.QUOTA),
                                       ("billing_hard_limit_reached", ErrorKind.QUOTA),
                                       ("rate_limit_exceeded", ErrorKind.RATE_LIMITED)])
def test_429_is_quota_only_when_the_money_ran_out(server: FakeLLMServer, tmp_path: Path,
                                                  code: str, kind: ErrorKind) -> None:
    server.script("q", Canned(429, {"error": {"message": "m", "type": code, "code": code}},
                              (("retry-after-ms", "250"),)))
    err = call(server, tmp_path, user("q"))
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (kind, kind == ErrorKind.RATE_LIMITED)
    if kind == ErrorKind.RATE_LIMITED:
        assert err.retry_after == 0.25


def test_error_detail_is_a_bounded_excerpt_without_the_key(server: FakeLLMServer,
                                                           tmp_path: Path, api_key: str) -> None:
    # the key sits right where the excerpt is cut: it must go before the cut, not after
    server.script("q", Canned(400, b"x" * 290 + api_key.encode() + b"y" * 5000))
    err = call(server, tmp_path, user("q"))
    assert isinstance(err, ProviderCallError) and err.kind == ErrorKind.BAD_REQUEST
    assert api_key[:8] not in err.detail
    assert len(err.detail) < 400 and "bytes in all" in err.detail
