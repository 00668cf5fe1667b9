"""Gemini on Vertex AI against a loopback fake: application default credentials from a test
service account whose JWT the fake's token endpoint verifies, then bearer tokens it issued."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.errors import ConfigError, ErrorKind, ProviderCallError
from drift_monitor.providers.base import CallResult, ProbeRequest
from drift_monitor.providers.vertex import VertexProvider
from drift_monitor.runner import make_provider
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import make_config
from tests.providers.wire import baseline_then_check, call, cli_project, user

Setup = Callable[[FakeLLMServer], tuple[dict[str, Any], list[str]]]


@pytest.fixture
def server(fake_server: Callable[..., FakeLLMServer]) -> FakeLLMServer:
    return fake_server("vertex")


@pytest.fixture
def spec(server: FakeLLMServer, cloud_credentials: Setup) -> dict[str, Any]:
    return cloud_credentials(server)[0]


def _calls(config: Any, target: Any, prompts: list[str]) -> list[CallResult | ProviderCallError]:
    async def go() -> list[CallResult | ProviderCallError]:
        provider = make_provider(config, target)
        out: list[CallResult | ProviderCallError] = []
        try:
            for p in prompts:
                try:
                    out.append(await provider.send(ProbeRequest(messages=tuple(user(p)))))
                except ProviderCallError as exc:
                    out.append(exc)
        finally:
            await provider.aclose()
        return out

    return asyncio.run(go())


def test_the_publisher_model_path_and_a_token_from_the_service_account(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path) -> None:
    result = call(server, tmp_path, [{"role": "system", "content": "Be terse."},
                                     {"role": "user", "content": "Hi"}],
                  {"temperature": 0, "max_tokens": 40}, **spec)
    assert isinstance(result, CallResult), result
    seen = server.seen[-1]
    assert seen.path == ("/v1/projects/drift-test/locations/us-central1/publishers/google/"
                         "models/gemini-1.5-pro-002:generateContent")
    assert seen.headers["Authorization"] == f"Bearer {server.google_tokens[0]}"
    assert "x-goog-api-key" not in seen.headers
    assert seen.body["generationConfig"] == {"temperature": 0, "maxOutputTokens": 40}
    assert seen.body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert server.auth_failures == []
    assert (result.model_returned, result.text) == ("gemini-1.5-pro-002", "answer to: Hi")


@pytest.mark.parametrize("model,path", [
    ("publishers/google/models/gemini-2.0-flash-001",
     "/v1/projects/drift-test/locations/us-central1/publishers/google/models/"
     "gemini-2.0-flash-001:generateContent"),
    ("projects/drift-test/locations/europe-west4/endpoints/1234",
     "/v1/projects/drift-test/locations/europe-west4/endpoints/1234:generateContent")])
def test_publisher_and_endpoint_resource_names(server: FakeLLMServer, spec: dict[str, Any],
                                               tmp_path: Path, model: str, path: str) -> None:
    result = call(server, tmp_path, user("q"), **{**spec, "model": model})
    assert isinstance(result, CallResult), result
    assert server.seen[-1].path == path


def test_the_default_endpoint_is_regional_or_global(spec: dict[str, Any],
                                                     tmp_path: Path) -> None:
    _, regional = make_config(tmp_path, **{**spec, "location": "europe-west4"})
    _, world = make_config(tmp_path, **{**spec, "location": "global"})
    assert VertexProvider(regional, api_key=None, base_dir=tmp_path).base_url == \
        "https://europe-west4-aiplatform.googleapis.com/v1/"
    assert VertexProvider(world, api_key=None, base_dir=tmp_path).base_url == \
        "https://aiplatform.googleapis.com/v1/"


@pytest.mark.parametrize("ttl_s,tokens", [(3600, 1), (60, 4)])
def test_the_token_is_fetched_once_and_refreshed_when_it_expires(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, ttl_s: int,
        tokens: int) -> None:
    # google-auth refreshes a few minutes before expiry: a 60 s token is stale at once, so
    # open() fetches one and each of the three calls another
    server.token_ttl_s = ttl_s
    config, target = make_config(tmp_path, server, **spec)
    results = _calls(config, target, ["a", "b", "c"])
    assert all(isinstance(r, CallResult) for r in results), results
    assert len(server.google_tokens) == tokens and server.auth_failures == []
    assert server.seen[-1].headers["Authorization"] == f"Bearer {server.google_tokens[-1]}"


def test_a_key_the_token_endpoint_rejects_is_an_auth_error_naming_it(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path,
        google_service_account_key: tuple[str, str]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    server.google_public_keys = {"k1": other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()}
    err = call(server, tmp_path, user("q"), **spec)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (ErrorKind.AUTH, False)
    assert "no Google Cloud access token" in err.detail and "invalid_grant" in err.detail
    assert [s.path for s in server.seen] == []  # generateContent was never called
    assert google_service_account_key[0].splitlines()[5] not in err.detail


def test_unauthenticated_and_resource_exhausted(server: FakeLLMServer, spec: dict[str, Any],
                                                tmp_path: Path) -> None:
    server.script("q", "auth", "rate_limit")
    auth, limited = (call(server, tmp_path, user("q"), **spec) for _ in range(2))
    assert isinstance(auth, ProviderCallError) and auth.kind == ErrorKind.AUTH
    assert "***" in auth.detail and not any(t in auth.detail for t in server.google_tokens)
    assert isinstance(limited, ProviderCallError)
    assert (limited.kind, limited.retryable) == (ErrorKind.RATE_LIMITED, True)


@pytest.mark.parametrize("keys,message", [
    ({"project": None}, "vertex needs project"),
    ({"project": "Not A Project"}, "is not a Google Cloud project id"),
    ({"location": "us central"}, "is not a Vertex AI location"),
    ({"api_key_env": "X"}, "remove api_key_env"),
])
def test_config_problems_are_one_line_each(spec: dict[str, Any], tmp_path: Path,
                                           keys: dict[str, Any], message: str) -> None:
    _, target = make_config(tmp_path, **{**spec, **keys})
    problems = VertexProvider.config_problems(target)
    assert len(problems) == 1 and message in problems[0]
    with pytest.raises(ConfigError):
        VertexProvider(target, api_key=None, base_dir=tmp_path)


def test_without_google_auth_the_advice_names_the_extra(spec: dict[str, Any], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    _, target = make_config(tmp_path, **spec)
    assert VertexProvider.config_problems(target) == [
        "provider vertex needs google: pip install 'drift-monitor[vertex]'"]


def test_credentials_are_looked_for_offline(spec: dict[str, Any], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _, target = make_config(tmp_path, **spec)
    assert VertexProvider.credential_problems(target) == []
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    assert "cannot be read" in VertexProvider.credential_problems(target)[0]
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    assert "no application default credentials" in \
        VertexProvider.credential_problems(target)[0]


def test_probe_store_and_check_a_new_model_version_is_a_metadata_finding(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, db_url: str) -> None:
    cli = cli_project(tmp_path, server, spec, db_url)

    def new_version() -> None:
        server.model = "gemini-1.5-pro-003"

    check = baseline_then_check(cli, new_version)
    assert check["drift"] is True
    meta = [f for f in check["findings"] if f["dimension"] == "metadata"]
    assert [(f["metric"], f["baseline"], f["current"]) for f in meta] == [
        ("model_returned", "gemini-1.5-pro-002", "gemini-1.5-pro-003")]


def test_a_token_that_cannot_be_had_fails_each_call_as_auth_and_the_round_still_ends(
        server: FakeLLMServer, spec: dict[str, Any], tmp_path: Path, any_store: Any) -> None:
    from drift_monitor.runner import probe_round
    from tests.providers.conftest import make_probe

    server.google_public_keys = {}  # the token endpoint refuses every assertion
    config, target = make_config(tmp_path, server, **spec, limits={"max_attempts": 1})
    summary = asyncio.run(probe_round(config, target, any_store,
                                      [make_probe("a"), make_probe("b")]))
    assert summary.status == "failed" and summary.failures_by_kind == {"auth": 2}
    assert [s.path for s in server.seen] == []
