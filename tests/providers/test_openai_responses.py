"""The OpenAI Responses API against a loopback fake: reasoning items and tokens, status and
incomplete_details, refusals and failed responses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.providers.base import CallResult
from drift_monitor.runner import probe_round
from drift_monitor.storage.queries import Store
from tests.fakes.llm_servers import Canned, FakeLLMServer
from tests.providers.conftest import API_KEY, make_config, make_probe
from tests.providers.wire import baseline_then_check, call, cli_project, user

Setup = Callable[[FakeLLMServer], tuple[dict[str, Any], list[str]]]


@pytest.fixture
def server(fake_server: Callable[..., FakeLLMServer]) -> FakeLLMServer:
    return fake_server("openai_responses")


@pytest.fixture
def spec(server: FakeLLMServer, cloud_credentials: Setup) -> dict[str, Any]:
    return cloud_credentials(server)[0]


def test_request_sends_messages_as_input_unstored_with_params_renamed(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    call(server, tmp_path, [{"role": "system", "content": "Be terse."},
                            {"role": "user", "content": "Hi"}],
         {"temperature": 0, "max_tokens": 400, "seed": 7, "stop": ["x"],
          "reasoning_effort": "low"}, **spec)
    seen = server.seen[-1]
    assert seen.path == "/v1/responses"
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}" and server.auth_failures == []
    assert seen.body == {"store": False, "temperature": 0, "max_output_tokens": 400,
                         "reasoning": {"effort": "low"}, "model": "gpt-4.1",
                         "input": [{"role": "system", "content": "Be terse."},
                                   {"role": "user", "content": "Hi"}]}


def test_the_answer_skips_reasoning_and_keeps_model_usage_and_reasoning_tokens(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    server.reasoning_tokens = 17
    result = call(server, tmp_path, user("q"), **spec)
    assert isinstance(result, CallResult), result
    assert (result.text, result.finish_reason, result.finish_category) == (
        "answer to: q", "completed", "stop")
    assert (result.input_tokens, result.output_tokens, result.reasoning_tokens) == (20, 30, 17)
    assert (result.model_returned, result.request_id) == ("gpt-4.1-2025-04-14", "req_1")


def test_incomplete_answers_say_why(server: FakeLLMServer, spec: dict[str, Any],
                                    tmp_path: Path) -> None:
    server.script("q", "incomplete", "safety", "reasoning_only", "refusal")
    cut, filtered, thought, refused = (call(server, tmp_path, user("q"), **spec)
                                       for _ in range(4))
    assert isinstance(cut, CallResult)
    assert (cut.finish_reason, cut.finish_category) == ("max_output_tokens", "length")
    assert isinstance(filtered, CallResult)
    assert (filtered.text, filtered.finish_category) == ("", "safety")
    # reasoning used every output token: no answer, and the detail says so
    assert isinstance(thought, ProviderCallError) and thought.kind == ErrorKind.MALFORMED
    assert "max_output_tokens" in thought.detail and "reasoning tokens 12" in thought.detail
    assert isinstance(refused, CallResult)
    assert (refused.text, refused.finish_reason) == ("I can't help with that.", "refusal")


@pytest.mark.parametrize("code,kind,retryable", [
    ("server_error", ErrorKind.SERVER_ERROR, True),
    ("rate_limit_exceeded", ErrorKind.RATE_LIMITED, True),
    ("invalid_prompt", ErrorKind.BAD_REQUEST, False)])
def test_a_failed_response_is_the_kind_its_error_code_says(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, code: str,
        kind: ErrorKind, retryable: bool) -> None:
    server.script("q", Canned(200, {"id": "resp_1", "object": "response", "status": "failed",
                                    "error": {"code": code, "message": "no"}, "output": [],
                                    "model": "gpt-4.1-2025-04-14"}))
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (kind, retryable)
    assert code in err.detail


def test_an_unfinished_status_is_malformed(server: FakeLLMServer, spec: dict[str, Any],
                                           tmp_path: Path) -> None:
    server.script("q", Canned(200, {"id": "resp_1", "status": "in_progress", "output": []}))
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError) and err.kind == ErrorKind.MALFORMED
    assert "in_progress" in err.detail


def test_reasoning_tokens_are_stored_with_the_response(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, any_store: Store) -> None:
    server.reasoning_tokens = 9
    config, target = make_config(tmp_path, server, **spec)
    summary = asyncio.run(probe_round(config, target, any_store, [make_probe("a")]))
    (row,) = any_store.responses(summary.id)
    assert (row.output_tokens, row.reasoning_tokens, row.finish_reason) == (30, 9, "completed")


def test_probe_store_and_check_a_new_snapshot_is_a_metadata_finding(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, db_url: str) -> None:
    cli = cli_project(tmp_path, server, spec, db_url)

    def new_snapshot() -> None:
        server.model = "gpt-4.1-2025-06-30"

    check = baseline_then_check(cli, new_snapshot)
    assert check["drift"] is True
    meta = [f for f in check["findings"] if f["dimension"] == "metadata"]
    assert [(f["metric"], f["current"]) for f in meta] == [("model_returned",
                                                            "gpt-4.1-2025-06-30")]
