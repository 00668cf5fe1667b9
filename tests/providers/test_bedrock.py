"""Amazon Bedrock Converse against a loopback fake that recomputes every request's SigV4
signature with botocore's own signer and answers in Bedrock's wire format."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.errors import ConfigError, ErrorKind, ProviderCallError
from drift_monitor.providers.base import CallResult, ProbeRequest
from drift_monitor.providers.bedrock import BedrockProvider, build_body
from drift_monitor.runner import make_provider
from tests.fakes.llm_servers import Canned, FakeLLMServer
from tests.providers.conftest import make_config
from tests.providers.wire import baseline_then_check, call, cli_project, user

Setup = Callable[[FakeLLMServer], tuple[dict[str, Any], list[str]]]
PROFILE = ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
           "us.anthropic.claude-3-5-sonnet-20240620-v1:0")


@pytest.fixture
def server(fake_server: Callable[..., FakeLLMServer]) -> FakeLLMServer:
    return fake_server("bedrock")


@pytest.fixture
def spec(server: FakeLLMServer, cloud_credentials: Setup) -> dict[str, Any]:
    return cloud_credentials(server)[0]


def test_converse_body_maps_system_messages_and_inference_config() -> None:
    body = build_body(ProbeRequest(messages=(
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "More?"}),
        params={"temperature": 0, "max_tokens": 400, "top_p": 0.9, "stop": "END", "top_k": 5}))
    assert body == {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]},
                     {"role": "assistant", "content": [{"text": "Hello."}]},
                     {"role": "user", "content": [{"text": "More?"}]}],
        "system": [{"text": "Be terse."}],
        "inferenceConfig": {"temperature": 0, "maxTokens": 400, "topP": 0.9,
                            "stopSequences": ["END"]},
        "additionalModelRequestFields": {"top_k": 5}}


@pytest.mark.parametrize("transport", ["aiohttp", "httpcore"])
@pytest.mark.parametrize("model", ["anthropic.claude-3-5-sonnet-20240620-v1:0", PROFILE])
def test_signed_requests_pass_botocores_own_verification_on_both_transports(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, model: str,
        transport: str) -> None:
    from tests.providers.conftest import TRANSPORTS

    config, target = make_config(tmp_path, server, **{**spec, "model": model})

    async def go() -> CallResult:
        provider = make_provider(config, target, transport=TRANSPORTS[transport]())
        try:
            await provider.open()
            return await provider.send(ProbeRequest(messages=tuple(user("q"))))
        finally:
            await provider.aclose()

    result = asyncio.run(go())
    assert server.auth_failures == [] and len(server.signatures) == 1
    seen = server.seen[-1]
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert seen.path == f"/model/{model}/converse"
    assert headers["x-amz-security-token"] == server.aws.token
    assert "/us-east-1/bedrock/aws4_request" in headers["authorization"]
    assert (result.text, result.finish_reason) == ("answer to: q", "end_turn")
    assert (result.input_tokens, result.output_tokens, result.request_id) == (20, 30, "0000-1")
    assert result.model_returned is None  # Converse does not say which model answered


def test_a_wrong_secret_key_fails_the_fakes_verification_as_auth_not_retried(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-right-secret")
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable, err.status) == (ErrorKind.AUTH, False, 403)
    assert err.detail.startswith("InvalidSignatureException: ")
    assert server.auth_failures == ["signature mismatch"] and server.count() == 1
    # the service quotes the canonical request, session token included (the fault matrix's
    # auth fault checks it is scrubbed); the bounded detail never carries it
    assert server.aws.token and server.aws.token not in err.detail


@pytest.mark.parametrize("fault,kind,retryable", [
    ("rate_limit", ErrorKind.RATE_LIMITED, True), ("not_ready", ErrorKind.RATE_LIMITED, True),
    ("overloaded", ErrorKind.SERVER_ERROR, True), ("server_error", ErrorKind.SERVER_ERROR, True),
    ("access_denied", ErrorKind.AUTH, False), ("quota", ErrorKind.QUOTA, False),
    ("bad_request", ErrorKind.BAD_REQUEST, False), ("not_found", ErrorKind.BAD_REQUEST, False)])
def test_error_names_decide_the_kind_and_whether_to_retry(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, fault: str,
        kind: ErrorKind, retryable: bool) -> None:
    server.script("q", fault)
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (kind, retryable)


def test_the_error_type_is_read_from_the_body_when_the_header_is_missing(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    server.script("q", Canned(400, {"__type": "com.amazon.coral.service#"
                                    "ModelTimeoutException", "message": "timed out"}))
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (ErrorKind.TIMEOUT, True)


def test_guardrail_and_reasoning_blocks(server: FakeLLMServer, spec: dict[str, Any],
                                        tmp_path: Path) -> None:
    server.script("q", Canned(200, {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm"}}}, {"text": "Paris"}]}},
        "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 9},
        "metrics": {"latencyMs": 10}}), "safety")
    first, second = call(server, tmp_path, user("q"), **spec), call(server, tmp_path,
                                                                     user("q"), **spec)
    assert isinstance(first, CallResult) and first.text == "Paris"
    assert isinstance(second, CallResult) and second.finish_category == "safety"


@pytest.mark.parametrize("keys,message", [
    ({"region": "us-east"}, "does not look like an AWS region"),
    ({"model": PROFILE.replace("us-east-1", "eu-west-1")}, "model ARN is in eu-west-1"),
    ({"api_key_env": "X"}, "remove api_key_env"),
])
def test_config_problems_are_one_line_each(spec: dict[str, Any], tmp_path: Path,
                                           keys: dict[str, Any], message: str) -> None:
    _, target = make_config(tmp_path, **{**spec, **keys})
    problems = BedrockProvider.config_problems(target)
    assert len(problems) == 1 and message in problems[0]
    with pytest.raises(ConfigError):
        BedrockProvider(target, api_key=None, base_dir=tmp_path)


def test_a_missing_region_falls_back_to_the_environment(
        spec: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    _, target = make_config(tmp_path, **{**spec, "region": None})
    assert BedrockProvider.config_problems(target) == [
        "bedrock needs region (or AWS_REGION in the environment)"]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    provider = BedrockProvider(target, api_key=None, base_dir=tmp_path)
    assert provider.base_url == "https://bedrock-runtime.eu-central-1.amazonaws.com/"


def test_without_botocore_the_advice_names_the_extra(spec: dict[str, Any], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "botocore", None)
    _, target = make_config(tmp_path, **spec)
    assert BedrockProvider.config_problems(target) == [
        "provider bedrock needs botocore: pip install 'drift-monitor[bedrock]'"]


def test_no_credentials_is_a_warning_offline_and_an_auth_failure_at_run_time(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    _, target = make_config(tmp_path, **spec)
    assert "no AWS credentials" in BedrockProvider.credential_problems(target)[0]
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError) and err.kind == ErrorKind.AUTH
    assert "no AWS credentials found" in err.detail and server.seen == []


def test_probe_store_and_check_access_denied_on_half_the_probes_is_operational(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, db_url: str) -> None:
    cli = cli_project(tmp_path, server, spec, db_url)

    def revoke_some() -> None:
        for i in range(0, 10, 2):
            server.script(f"question {i}", "access_denied", "access_denied")

    check = baseline_then_check(cli, revoke_some)
    assert check["drift"] is True
    found = {(f["dimension"], f["metric"]): f for f in check["findings"]}
    assert found[("operational", "error_rate")]["current"] == 0.5
    # AccessDeniedException is not retried: one request per denied call
    assert server.count("question 0") == 3 * 2 + 2
    assert server.auth_failures == []


def test_the_daemons_log_redaction_knows_the_aws_secrets_from_the_environment(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    from drift_monitor.daemon.logs import secret_values

    config, _ = make_config(tmp_path, server, **spec)
    assert {server.aws.secret_key, server.aws.token} <= set(secret_values(config))


def test_a_broken_aws_profile_fails_each_call_as_auth_and_the_round_still_ends(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, any_store: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from drift_monitor.runner import probe_round
    from tests.providers.conftest import make_probe

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    config, target = make_config(tmp_path, server, **spec, limits={"max_attempts": 1})
    summary = asyncio.run(probe_round(config, target, any_store,
                                      [make_probe("a"), make_probe("b")]))
    assert summary.status == "failed" and summary.failures_by_kind == {"auth": 2}
    (row, _) = any_store.responses(summary.id)
    assert "ProfileNotFound" in (row.error_detail or "") and server.seen == []
