"""Azure OpenAI chat completions against a loopback fake that checks the api-version, the
api-key header (or an Entra ID token) and the path, as the service does."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.errors import ConfigError, ErrorKind, ProviderCallError
from drift_monitor.providers import azure_openai
from drift_monitor.providers.azure_openai import AzureOpenAIProvider
from drift_monitor.providers.base import CallResult
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import API_KEY, make_config
from tests.providers.wire import baseline_then_check, call, cli_project, user

Setup = Callable[[FakeLLMServer], tuple[dict[str, Any], list[str]]]


@pytest.fixture
def server(fake_server: Callable[..., FakeLLMServer]) -> FakeLLMServer:
    return fake_server("azure_openai", api_key=API_KEY)


@pytest.fixture
def spec(server: FakeLLMServer, cloud_credentials: Setup) -> dict[str, Any]:
    return cloud_credentials(server)[0]


def test_deployment_path_carries_the_api_version_and_the_key_goes_in_the_api_key_header(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    result = call(server, tmp_path, [{"role": "system", "content": "Be terse."},
                                     {"role": "user", "content": "Hi"}],
                  {"temperature": 0, "max_tokens": 50, "seed": 7}, **spec)
    assert isinstance(result, CallResult), result
    seen = server.seen[-1]
    assert seen.path == "/openai/deployments/prod-gpt4o/chat/completions"
    assert seen.headers["api-key"] == API_KEY and "Authorization" not in seen.headers
    assert seen.body == {"temperature": 0, "max_tokens": 50, "seed": 7, "messages": [
        {"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]}
    assert server.auth_failures == []
    # the model behind the deployment, as the answer names it
    assert (result.model_returned, result.fingerprint) == ("gpt-4o-2024-08-06", "fp_test_1")
    assert result.request_id == "apim-1"


@pytest.mark.parametrize("keys,path", [
    ({"api_version": "v1"}, "/openai/v1/chat/completions"),
    ({"api_version": "preview"}, "/openai/v1/chat/completions"),
    ({"api_version": None, "base_url_suffix": "/openai/v1"}, "/openai/v1/chat/completions")])
def test_the_v1_api_sends_the_deployment_as_model_without_a_dated_version(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, keys: dict[str, Any],
        path: str) -> None:
    suffix = keys.pop("base_url_suffix", "")
    result = call(server, tmp_path, user("q"), **{**spec, **keys,
                                                  "base_url": server.base_url + suffix})
    assert isinstance(result, CallResult), result
    seen = server.seen[-1]
    assert seen.path == path and seen.body["model"] == "prod-gpt4o"
    assert server.auth_failures == []


def test_the_fake_refuses_a_deployment_call_without_a_dated_api_version(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    config, target = make_config(tmp_path, server, **spec)
    provider = AzureOpenAIProvider(target, api_key=API_KEY, base_dir=tmp_path)
    provider.chat_path = "openai/deployments/prod-gpt4o/chat/completions"  # no api-version
    import asyncio

    from drift_monitor.providers.base import ProbeRequest

    async def go() -> ProviderCallError:
        try:
            await provider.send(ProbeRequest(messages=tuple(user("q"))))
        except ProviderCallError as exc:
            return exc
        finally:
            await provider.aclose()
        raise AssertionError("the fake accepted a call without api-version")

    err = asyncio.run(go())
    assert err.kind == ErrorKind.BAD_REQUEST and err.status == 404
    assert server.auth_failures == ["api-version None on a deployments path"]


def test_a_wrong_key_is_auth_and_is_not_retried(server: FakeLLMServer, spec: dict[str, Any],
                                                tmp_path: Path) -> None:
    server.api_key = "another-key"
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable, err.status) == (ErrorKind.AUTH, False, 401)


def test_a_filtered_answer_is_a_content_filter_outcome_naming_the_categories(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    server.script("q", "safety", "prompt_filtered")
    answer, prompt = (call(server, tmp_path, user("q"), **spec) for _ in range(2))
    assert isinstance(answer, ProviderCallError) and isinstance(prompt, ProviderCallError)
    assert (answer.kind, answer.retryable) == (ErrorKind.CONTENT_FILTER, False)
    assert "withheld the answer (violence)" in answer.detail
    assert (prompt.kind, prompt.status) == (ErrorKind.CONTENT_FILTER, 400)
    assert "refused the prompt (jailbreak)" in prompt.detail


def test_rate_limits_honour_retry_after_ms(server: FakeLLMServer, spec: dict[str, Any],
                                           tmp_path: Path) -> None:
    server.retry_after_s = 6
    server.script("q", "rate_limit")
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable, err.retry_after) == (ErrorKind.RATE_LIMITED, True, 6.0)


class _Credential:
    """A TokenCredential (azure-core's protocol) issuing tokens the fake accepts."""

    def __init__(self, server: FakeLLMServer, lifetime_s: float) -> None:
        self.server, self.lifetime_s, self.calls = server, lifetime_s, 0

    def get_token(self, *scopes: str) -> Any:
        from azure.core.credentials import AccessToken

        assert scopes == (azure_openai.ENTRA_SCOPE,)
        self.calls += 1
        token = f"eyJ-entra-{self.calls}-SECRET"
        self.server.entra_tokens.append(token)
        return AccessToken(token, int(time.time() + self.lifetime_s))


@pytest.mark.parametrize("lifetime_s,fetches", [(3600, 1), (120, 3)])
def test_without_api_key_env_an_entra_id_token_is_sent_and_renewed_before_it_expires(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, lifetime_s: float, fetches: int) -> None:
    credential = _Credential(server, lifetime_s)
    monkeypatch.setattr(azure_openai, "_default_credential", lambda: credential)
    server.api_key = None
    config, target = make_config(tmp_path, server, **{**spec, "api_key_env": None})
    import asyncio

    from drift_monitor.providers.base import ProbeRequest
    from drift_monitor.runner import make_provider

    async def go() -> list[CallResult | ProviderCallError]:
        provider = make_provider(config, target)
        out: list[CallResult | ProviderCallError] = []
        try:
            for prompt in ("a", "b", "c"):
                try:
                    out.append(await provider.send(ProbeRequest(messages=tuple(user(prompt)))))
                except ProviderCallError as exc:
                    out.append(exc)
        finally:
            await provider.aclose()
        return out

    results = asyncio.run(go())
    assert all(isinstance(r, CallResult) for r in results), results
    assert credential.calls == fetches  # renewed only within 5 minutes of expiry
    assert server.seen[-1].headers["Authorization"] == f"Bearer {server.entra_tokens[-1]}"
    assert "api-key" not in server.seen[-1].headers and server.auth_failures == []


def test_an_entra_id_failure_is_an_auth_error_not_a_traceback(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    def broken() -> Any:
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

    monkeypatch.setattr(azure_openai, "_default_credential", broken)
    err = call(server, tmp_path, user("q"), **{**spec, "api_key_env": None})
    assert isinstance(err, ProviderCallError) and err.kind == ErrorKind.AUTH
    assert "Entra ID" in err.detail and server.seen == []


@pytest.mark.parametrize("keys,message", [
    ({"base_url": None}, "azure_openai needs base_url"),
    ({"api_version": None}, "azure_openai needs api_version"),
    ({"api_version": "2024-1-1"}, "api_version '2024-1-1' is neither"),
    ({"base_url": "https://r.openai.azure.com/openai/deployments/x/chat/completions"},
     "should be the resource endpoint only"),
    ({"base_url": "r.openai.azure.com"}, "is not an http(s) URL"),
    ({"base_url": "https://r.openai.azure.com/openai/"}, "should be the resource endpoint only"),
])
def test_config_problems_are_one_line_each(spec: dict[str, Any], tmp_path: Path,
                                           keys: dict[str, Any], message: str) -> None:
    _, target = make_config(tmp_path, **{**spec, "base_url": "https://r.openai.azure.com",
                                         **keys})
    problems = AzureOpenAIProvider.config_problems(target)
    assert len(problems) == 1 and message in problems[0]
    with pytest.raises(ConfigError, match="targets\\[t-azure_openai\\]"):
        AzureOpenAIProvider(target, api_key=API_KEY, base_dir=tmp_path)


def test_without_azure_identity_entra_id_targets_are_told_which_extra_to_install(
        spec: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    _, target = make_config(tmp_path, **{**spec, "base_url": "https://r.openai.azure.com",
                                         "api_key_env": None})
    assert AzureOpenAIProvider.config_problems(target) == [
        "provider azure_openai needs azure: pip install 'drift-monitor[azure]' (or set "
        "api_key_env to use an API key)"]


def test_without_a_key_validate_warns_when_no_entra_identity_is_in_sight(
        spec: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in azure_openai._ENTRA_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no az, no azd
    _, keyed = make_config(tmp_path, **{**spec, "base_url": "https://r.openai.azure.com"})
    _, entra = make_config(tmp_path, **{**spec, "base_url": "https://r.openai.azure.com",
                                        "api_key_env": None})
    assert AzureOpenAIProvider.credential_problems(keyed) == []
    assert "no Microsoft Entra ID identity" in AzureOpenAIProvider.credential_problems(entra)[0]
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000000")
    assert AzureOpenAIProvider.credential_problems(entra) == []


def test_a_region_key_on_an_azure_target_is_a_config_error(spec: dict[str, Any],
                                                           tmp_path: Path) -> None:
    with pytest.raises(Exception, match="'region' is a key of provider bedrock"):
        make_config(tmp_path, **{**spec, "region": "us-east-1"})


def test_probe_store_and_check_a_stricter_content_filter_is_an_operational_finding(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, db_url: str) -> None:
    cli = cli_project(tmp_path, server, spec, db_url)

    def stricter_filter() -> None:
        for i in range(0, 10, 2):
            server.script(f"question {i}", "safety", "safety")

    check = baseline_then_check(cli, stricter_filter)
    assert check["drift"] is True
    found = {(f["dimension"], f["metric"]): f for f in check["findings"]}
    rate = found[("operational", "filtered_rate")]
    assert (rate["baseline"], rate["current"]) == (0, 0.5)
    assert ("operational", "error_rate") not in found  # a filter is not an outage
    assert check["window"]["responses"] == 10  # the 10 filtered calls are not samples
