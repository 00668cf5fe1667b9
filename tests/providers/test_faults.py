"""Fault injection, one real loopback server per provider: every fault ends as the right stored
kind after the right number of attempts, the round completes, and the key leaks nowhere."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import MetaData, select

from drift_monitor.providers._retry import RetryPolicy
from drift_monitor.runner import probe_round
from drift_monitor.storage.queries import Store
from tests.fakes.llm_servers import FakeLLMServer
from tests.providers.conftest import RecordingSleep, make_config, make_probe

DIALECTS = ["openai", "anthropic", "gemini"]
CLOUD = ["azure_openai", "bedrock", "vertex", "openai_responses"]
MAX_ATTEMPTS = 3
TIMEOUT_S = 0.4

# prompt -> (faults the server answers in turn, stored ok, error kind, attempts)
CASES: dict[str, tuple[tuple[str, ...], bool, str | None, int]] = {
    "p-ok": (("ok",), True, None, 1),
    "p-rate-limit": (("rate_limit", "ok"), True, None, 2),
    "p-500": (("server_error",) * MAX_ATTEMPTS, False, "server_error", MAX_ATTEMPTS),
    "p-500-then-ok": (("server_error", "ok"), True, None, 2),
    "p-overloaded": (("overloaded", "ok"), True, None, 2),
    "p-overloaded-always": (("overloaded",) * MAX_ATTEMPTS, False, "server_error", MAX_ATTEMPTS),
    "p-slow": (("slow",) * MAX_ATTEMPTS, False, "timeout", MAX_ATTEMPTS),
    "p-trickle": (("trickle",) * MAX_ATTEMPTS, False, "timeout", MAX_ATTEMPTS),
    "p-drop": (("drop", "ok"), True, None, 2),
    "p-not-json": (("not_json",), False, "malformed", 1),
    "p-empty": (("empty",), False, "malformed", 1),
    "p-empty-text": (("empty_text",), False, "malformed", 1),
    "p-huge": (("huge",), False, "malformed", 1),
    "p-huge-chunked": (("huge_chunked",), False, "malformed", 1),
    "p-quota": (("quota",), False, "quota", 1),
    "p-auth": (("auth",), False, "auth", 1),
    "p-bad-request": (("bad_request",), False, "bad_request", 1),
    "p-not-found": (("not_found",), False, "bad_request", 1),
    "p-safety": (("safety",), True, None, 1),
}
SAFETY_FINISH = {"openai": "content_filter", "anthropic": "refusal", "gemini": "SAFETY",
                 "bedrock": "guardrail_intervened", "vertex": "SAFETY",
                 "openai_responses": "content_filter"}
# what the 429 asked to wait: OpenAI and Azure retry-after-ms 1500 over retry-after 2;
# Anthropic retry-after 2; Gemini and Vertex RetryInfo 1.5s; Bedrock sends none (backoff only)
HONOURED = {"openai": 1.5, "anthropic": 2.0, "gemini": 1.5, "azure_openai": 1.5, "bedrock": None,
            "vertex": 1.5, "openai_responses": 1.5}
# Azure's content filter is an outcome of its own, stored as a failure: never a sample
FILTERED = {"azure_openai"}


def _all_stored_text(store: Store) -> str:
    """Every value of every row of every table, as one string."""
    meta = MetaData()
    meta.reflect(store.engine)
    with store.engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for table in meta.sorted_tables
                         for row in conn.execute(select(table)))


@pytest.mark.parametrize("dialect", DIALECTS + CLOUD)
def test_every_fault_is_stored_with_its_kind_and_attempts_and_the_key_leaks_nowhere(
        dialect: str, fake_server: Callable[..., FakeLLMServer], store: Store, api_key: str,
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        fast_retry: tuple[RetryPolicy, RecordingSleep], cloud_credentials: Callable[
            [FakeLLMServer], tuple[dict[str, Any], list[str]]]) -> None:
    caplog.set_level(logging.DEBUG)
    server = fake_server(dialect)
    server.retry_after_s = 1.5
    for prompt, (faults, *_rest) in CASES.items():
        server.script(prompt, *faults)
    spec, secrets = cloud_credentials(server) if dialect in CLOUD else ({}, [api_key])
    config, target = make_config(tmp_path, server, limits={"timeout_s": TIMEOUT_S,
                                                           "concurrency": 8}, **spec)
    policy, sleep = fast_retry
    probes = [make_probe(p) for p in CASES]

    # the slow server never answers and the trickling one would take 33 minutes per body: a
    # round that finishes at all timed them out per attempt (pytest's timeout guards a hang)
    summary = asyncio.run(probe_round(config, target, store, probes, retry=policy))

    assert summary.status == "partial"
    assert summary.ok + summary.failed == len(CASES)
    pv_to_probe = {pv: p.id for p in probes for pv in [_pv_id(store, p.version)]}
    rows = {pv_to_probe[r.probe_version_id]: r for r in store.responses(summary.id)}
    for prompt, (_faults, ok, kind, attempts) in CASES.items():
        if prompt == "p-safety" and dialect in FILTERED:
            ok, kind = False, "content_filter"
        row = rows[prompt]
        assert (row.ok, row.error_kind, row.attempts) == (ok, kind, attempts), prompt
        assert server.count(prompt) == attempts, prompt
        if not ok:
            assert row.text is None and row.cost_usd is None, prompt
    # Bedrock's Converse answer names no model: nothing is made up
    assert rows["p-ok"].model_returned == (None if dialect == "bedrock" else server.model)
    assert rows["p-ok"].input_tokens == 20 and rows["p-ok"].output_tokens == 30
    if dialect in FILTERED:
        assert "content filter" in (rows["p-safety"].error_detail or "")
    else:
        assert rows["p-safety"].finish_reason == SAFETY_FINISH[dialect]
        assert rows["p-safety"].text == ""
    assert rows["p-huge"].error_detail and "limit" in rows["p-huge"].error_detail
    assert len(rows["p-not-json"].error_detail or "") < 600  # a bounded excerpt
    # only the rate-limited call waited for the server's Retry-After
    honoured = HONOURED[dialect]
    long_waits = [w for w in sleep.waits if w >= 1]
    if honoured is None:
        assert long_waits == []
    else:
        assert len(long_waits) == 1 and honoured <= long_waits[0] <= honoured + 0.01

    # the auth fault's body quoted the credential: neither the database nor any log line has
    # it, nor any key, session token, OAuth token or request signature the round used
    assert "***" in (rows["p-auth"].error_detail or "")
    assert server.auth_failures == []
    secrets += server.signatures + server.google_tokens
    stored = _all_stored_text(store)
    for secret in secrets:
        assert secret not in stored
        assert secret not in caplog.text
        assert all(secret not in str(r.args) for r in caplog.records)


def _pv_id(store: Store, version: str) -> int:
    from drift_monitor.storage.tables import ProbeVersion

    with store.engine.connect() as conn:
        return int(conn.execute(select(ProbeVersion.id)
                                .where(ProbeVersion.version == version)).scalar_one())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("dialect", [*DIALECTS, "azure_openai", "bedrock", "openai_responses"])
def test_connection_refused_is_retried_then_stored_as_connection_and_the_round_fails_cleanly(
        dialect: str, store: Store, api_key: str, tmp_path: Path,
        transport_factory: Callable[[], httpx.AsyncBaseTransport],
        fast_retry: tuple[RetryPolicy, RecordingSleep], cloud_credentials: Callable[
            [FakeLLMServer], tuple[dict[str, Any], list[str]]]) -> None:
    spec = cloud_credentials(FakeLLMServer(dialect))[0] if dialect in CLOUD else {}
    spec.pop("provider", None)
    config, target = make_config(tmp_path, provider=dialect,
                                 base_url=f"http://127.0.0.1:{_closed_port()}/v1",
                                 limits={"timeout_s": 2}, **spec)
    policy, sleep = fast_retry
    summary = asyncio.run(probe_round(config, target, store, [make_probe("a"), make_probe("b")],
                                      retry=policy, transport=transport_factory()))
    assert summary.status == "failed"
    assert summary.failures_by_kind == {"connection": 2}
    assert {r.attempts for r in store.responses(summary.id)} == {MAX_ATTEMPTS}
    assert len(sleep.waits) == 2 * (MAX_ATTEMPTS - 1)


@pytest.mark.parametrize("fault,kind", [("slow", "timeout"), ("drop", "connection"),
                                        ("truncated", "connection"),
                                        ("huge_chunked", "malformed"), ("trickle", "timeout")])
def test_both_transports_classify_transport_faults_alike(
        fault: str, kind: str, fake_server: Callable[..., FakeLLMServer], store: Store,
        api_key: str, tmp_path: Path, transport_factory: Callable[[], httpx.AsyncBaseTransport],
        fast_retry: tuple[RetryPolicy, RecordingSleep]) -> None:
    server = fake_server("openai")
    server.default = fault
    config, target = make_config(tmp_path, server, limits={"timeout_s": 0.3})
    policy, _ = fast_retry
    summary = asyncio.run(probe_round(config, target, store, [make_probe("x")], retry=policy,
                                      transport=transport_factory()))
    assert summary.failures_by_kind == {kind: 1}
