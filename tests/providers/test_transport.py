"""The HTTP layer under every provider: which transport, where it is made, and bounded reads."""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from drift_monitor.errors import ErrorKind, ProviderCallError
from drift_monitor.providers._http import MAX_BODY_BYTES
from drift_monitor.providers.base import CallResult, ProbeRequest
from drift_monitor.runner import make_provider
from tests.fakes.llm_servers import HUGE_BYTES, FakeLLMServer
from tests.providers.conftest import make_config

REQUEST = ProbeRequest(messages=({"role": "user", "content": "q"},))


def test_default_transport_is_aiohttp_made_inside_the_loop_and_closed_with_the_provider(
        fake_server: Callable[..., FakeLLMServer], api_key: str, tmp_path: Path) -> None:
    from httpx_aiohttp import AiohttpTransport

    server = fake_server("openai")
    config, target = make_config(tmp_path, server)
    provider = make_provider(config, target)  # outside any loop: nothing made yet
    assert provider.transport is None

    async def go() -> None:
        assert isinstance(await provider.send(REQUEST), CallResult)
        transport = provider.transport
        assert isinstance(transport, AiohttpTransport)
        session = transport.client
        assert session is not None and not session.closed  # type: ignore[union-attr]
        await provider.aclose()
        assert session.closed  # type: ignore[union-attr]

    asyncio.run(go())


def test_without_httpx_aiohttp_the_httpx_pool_is_used(
        fake_server: Callable[..., FakeLLMServer], api_key: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)  # import now raises ImportError
    server = fake_server("gemini")
    config, target = make_config(tmp_path, server)

    async def go() -> None:
        provider = make_provider(config, target)
        try:
            assert isinstance(await provider.send(REQUEST), CallResult)
            assert type(provider.transport) is httpx.AsyncHTTPTransport
        finally:
            await provider.aclose()

    asyncio.run(go())


def _send(server: FakeLLMServer, tmp_path: Path, **limits: float) -> CallResult | ProviderCallError:
    config, target = make_config(tmp_path, server, limits=limits)

    async def go() -> CallResult | ProviderCallError:
        provider = make_provider(config, target)
        await provider.open()
        try:
            return await provider.send(REQUEST)
        except ProviderCallError as exc:
            return exc
        finally:
            await provider.aclose()

    return asyncio.run(go())


def test_a_10_mb_streamed_body_is_cut_at_the_limit_without_being_held(
        fake_server: Callable[..., FakeLLMServer], api_key: str, tmp_path: Path) -> None:
    server = fake_server("anthropic")
    server.default = "huge_chunked"
    tracemalloc.start()
    try:
        err = _send(server, tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (ErrorKind.MALFORMED, False)
    assert "stopped reading" in err.detail
    assert peak < MAX_BODY_BYTES * 1.6 < HUGE_BYTES


def test_a_declared_oversize_body_is_refused_before_it_is_read(
        fake_server: Callable[..., FakeLLMServer], api_key: str, tmp_path: Path) -> None:
    server = fake_server("gemini")
    server.default = "huge"
    err = _send(server, tmp_path)
    assert isinstance(err, ProviderCallError) and err.kind == ErrorKind.MALFORMED
    assert f"over the {MAX_BODY_BYTES}-byte limit" in err.detail and "body of 1" in err.detail


def test_a_trickling_server_cannot_hold_a_call_past_its_timeout(
        fake_server: Callable[..., FakeLLMServer], api_key: str, tmp_path: Path) -> None:
    server = fake_server("openai")
    # one byte every 20 ms of a 100,000-byte body: each read is quick, the whole would take
    # 33 minutes, so a call that returns at all was cut off by its timeout (pytest's timeout
    # is only the hang guard)
    server.default = "trickle"
    err = _send(server, tmp_path, timeout_s=0.5)
    assert isinstance(err, ProviderCallError)
    assert (err.kind, err.retryable) == (ErrorKind.TIMEOUT, True)


def test_proxy_comes_from_the_environment_and_no_proxy_is_honoured(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from drift_monitor.providers._http import env_proxy

    for var in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert env_proxy("https://api.openai.com/v1/") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp.example")
    assert env_proxy("https://api.anthropic.com/v1/") == "http://proxy.internal:3128"
    assert env_proxy("https://llm.corp.example/v1/") is None
    assert env_proxy("http://localhost:8000/v1/") is None


def test_plain_http_targets_get_a_tls_context_that_trusts_nothing() -> None:
    import ssl

    from drift_monitor.providers._http import ssl_context

    https = ssl_context("https://api.openai.com/v1/")
    assert https is ssl_context("https://generativelanguage.googleapis.com/v1beta/")  # cached
    assert https.verify_mode == ssl.CERT_REQUIRED and https.check_hostname
    assert https.cert_store_stats()["x509_ca"] > 0
    plain = ssl_context("http://127.0.0.1:8000/v1/")
    assert plain.verify_mode == ssl.CERT_REQUIRED and plain.cert_store_stats()["x509_ca"] == 0
