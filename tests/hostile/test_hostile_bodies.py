"""Every provider kind fed a table of hostile answers (tests/hostile/bodies.py), in one round
next to normal answers, through a real loopback server and a real database (SQLite and
PostgreSQL): the CLI for openai, anthropic, gemini and replay, the round itself for the cloud
kinds (azure_openai, bedrock, vertex, openai_responses) with their credential chains. For each
hostile answer: the round's other answers are stored, the hostile one is stored normalised or
as a failure of the kind the table names, nothing prints or logs a traceback, and ``probe``
exits 0 as documented (the round completed, partially).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from drift_monitor.runner import probe_round
from drift_monitor.storage.bounds import CUT_MARKER, INT_MAX
from drift_monitor.storage.tables import ProbeVersion, Response
from tests.fakes.llm_servers import Canned, FakeLLMServer
from tests.fakes.project import assert_no_traceback, run_cli, write_project
from tests.hostile.bodies import FIELD_CASES, RAW_CASES, body, gzip_case, wrong_shape
from tests.providers.conftest import (  # noqa: F401 - fixtures of the cloud kinds
    cloud_credentials,
    google_service_account_key,
)

DIALECTS = ["openai", "anthropic", "gemini"]
NORMAL = ["normal-1", "normal-2", "normal-3"]
TEXT_COLUMNS = ("text", "model_returned", "fingerprint", "request_id", "finish_reason",
                "error_detail")


def stored(db_url: str) -> dict[str, Any]:
    """probe id -> its stored response row (one sample each)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Response, ProbeVersion.probe_id)
                                .join(ProbeVersion, ProbeVersion.id == Response.probe_version_id))
            return {r.probe_id: r for r in rows}
    finally:
        engine.dispose()


def _check_normalised(name: str, row: Any) -> None:
    assert row.ok, f"{name}: stored as {row.error_kind}: {row.error_detail}"
    for col in TEXT_COLUMNS:
        value = getattr(row, col)
        if value is None:
            continue
        assert "\x00" not in value, f"{name}: NUL kept in {col}"
        value.encode("utf-8")  # no lone surrogate survived
    for col, width in (("model_returned", 200), ("fingerprint", 200), ("request_id", 200),
                       ("finish_reason", 50)):
        value = getattr(row, col)
        if value is not None:
            assert len(value) <= width, f"{name}: {col} over its column"
    for col in ("input_tokens", "output_tokens"):
        value = getattr(row, col)
        assert value is None or 0 <= value <= INT_MAX, f"{name}: {col}={value}"


def _expectations(row: Any, name: str) -> None:
    """Case-specific checks of what normalisation made of the value."""
    if name == "nul-in-text":
        assert row.text == "bad \ufffd nul"
    if name == "surrogate-in-text":
        assert row.text == "bad \ufffd surrogate"
    if name == "long-model":
        assert row.model_returned.endswith(CUT_MARKER) and len(row.model_returned) == 200
    if name in ("tokens-2-31", "tokens-10-30"):
        assert row.input_tokens == INT_MAX
    if name == "tokens-negative":
        assert row.input_tokens == 0
    if name == "big-text":
        assert len(row.text) == len("word " * 600_000)


@pytest.mark.slow  # every hostile body through every provider kind and both databases
@pytest.mark.parametrize("dialect", DIALECTS)
def test_hostile_answers_are_stored_normalised_or_as_named_failures_and_lose_nothing_else(
        dialect: str, db_url: str, tmp_path: Path, hostile_env: None,
        caplog: pytest.LogCaptureFixture) -> None:
    cases: dict[str, tuple[Canned, str]] = {
        name: (Canned(200, body(dialect, fields)), outcome)
        for name, (fields, outcome) in FIELD_CASES.items()}
    cases.update(RAW_CASES)
    cases["gzip-bomb"] = gzip_case()
    cases["wrong-shape"] = (Canned(200, wrong_shape(dialect)), "malformed")
    with FakeLLMServer(dialect) as server:
        for name, (canned, _) in cases.items():
            server.script(name, canned)
        project = write_project(tmp_path, provider=dialect, db_url=db_url,
                                base_url=server.base_url, prompts=[*NORMAL, *cases])
        code, out = run_cli(project, "probe")
    assert_no_traceback(out, caplog)
    assert code == 0, out
    assert "run 1 partial" in out, out
    rows = stored(db_url)
    assert set(rows) == {*NORMAL, *cases}, "an answer of the round was lost"
    for name in NORMAL:
        assert rows[name].ok and rows[name].text == f"answer to: {name}"
    for name, (_, outcome) in cases.items():
        row = rows[name]
        if outcome == "ok":
            _check_normalised(name, row)
            _expectations(row, name)
        else:
            assert not row.ok and row.error_kind == outcome, \
                f"{name}: expected {outcome}, stored ok={row.ok} {row.error_kind}"
    # the key never reached the database
    assert all(hostile_key_absent(r) for r in rows.values())


def hostile_key_absent(row: Any) -> bool:
    from tests.fakes.project import API_KEY

    return all(API_KEY not in (getattr(row, c) or "") for c in TEXT_COLUMNS)


def test_hostile_recorded_answers_of_the_replay_provider_are_normalised(
        db_url: str, tmp_path: Path, hostile_env: None,
        caplog: pytest.LogCaptureFixture) -> None:
    records = [{"prompt": p, "response": f"answer to: {p}"} for p in NORMAL]
    records += [
        {"prompt": "nul", "response": "bad \x00 nul", "model": "m\x00"},
        {"prompt": "surrogate", "response": "bad \ud800 surrogate"},
        {"prompt": "huge-numbers", "response": "x", "prompt_tokens": 10**30,
         "response_tokens": 2**31, "latency_s": 1e308},
        {"prompt": "long", "response": "x", "model": "M" * 5000, "finish_reason": "F" * 99,
         "fingerprint": "P" * 999},
        {"prompt": "wrong-types", "response": "x", "model": 12, "prompt_tokens": "ten",
         "finish_reason": ["stop"]},
    ]
    rec = tmp_path / "rec.jsonl"
    rec.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    prompts = [r["prompt"] for r in records]
    project = write_project(tmp_path, provider="replay", db_url=db_url, prompts=prompts,
                            params={"recording": str(rec)})
    code, out = run_cli(project, "probe")
    assert_no_traceback(out, caplog)
    assert code == 0, out
    rows = stored(db_url)
    assert set(rows) == set(prompts)
    for name in prompts:
        _check_normalised(name, rows[name])
    assert rows["nul"].text == "bad \ufffd nul"
    assert rows["huge-numbers"].input_tokens == INT_MAX
    assert rows["huge-numbers"].latency_ms is None  # 1e308 s is not a latency
    assert len(rows["long"].model_returned) == 200


CLOUD = ["azure_openai", "bedrock", "vertex", "openai_responses"]


@pytest.mark.slow  # every hostile body through every provider kind and both databases
@pytest.mark.parametrize("dialect", CLOUD)
def test_the_cloud_kinds_store_hostile_answers_normalised_or_as_named_failures(
        dialect: str, db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        cloud_credentials: Any) -> None:  # noqa: F811
    """The same table through the cloud providers' own credential chains (their fakes check
    keys, SigV4 signatures and OAuth tokens as the services do), one round each."""
    import asyncio
    import logging

    from drift_monitor.storage.engine import ensure_schema, make_engine
    from drift_monitor.storage.queries import Store
    from tests.providers.conftest import make_config, make_probe

    caplog.set_level(logging.INFO)
    cases: dict[str, tuple[Canned, str]] = {
        name: (Canned(200, body(dialect, fields)), outcome)
        for name, (fields, outcome) in FIELD_CASES.items()}
    cases.update(RAW_CASES)
    cases["wrong-shape"] = (Canned(200, wrong_shape(dialect)), "malformed")
    engine = make_engine(db_url)
    ensure_schema(engine)
    store = Store(engine)
    with FakeLLMServer(dialect) as server:
        for name, (canned, _) in cases.items():
            server.script(name, canned)
        spec, _secrets = cloud_credentials(server)
        config, target = make_config(tmp_path, server, limits={"max_attempts": 1}, **spec)
        probes = [make_probe(p) for p in [*NORMAL, *cases]]
        summary = asyncio.run(probe_round(config, target, store, probes))
    assert_no_traceback("", caplog)
    assert summary.status == "partial"
    rows = {}
    for r in store.responses(summary.id):
        pv = next(p for p in probes if store.ensure_probe_versions([p])[
            (p.suite, p.id, p.version)] == r.probe_version_id)
        rows[pv.id] = r
    engine.dispose()
    assert set(rows) == {*NORMAL, *cases}, "an answer of the round was lost"
    for name in NORMAL:
        assert rows[name].ok, (name, rows[name].error_kind, rows[name].error_detail)
    for name, (_, outcome) in cases.items():
        row = rows[name]
        if outcome == "ok":
            _check_normalised(name, row)
            if dialect != "bedrock" or name not in ("long-model", "long-request-id"):
                _expectations(row, name)
        else:
            assert not row.ok and row.error_kind in (outcome, "bad_request"), \
                f"{name}: expected {outcome}, stored ok={row.ok} {row.error_kind}"
