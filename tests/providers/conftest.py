"""Fixtures for the provider tests: loopback fake servers, a migrated database, a target
config with a secret API key, probes, and transports of both kinds."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from drift_monitor.config import Config, Settings, TargetConfig
from drift_monitor.probes import Probe, probe_version
from drift_monitor.providers.retry import RetryPolicy
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from tests.fakes.llm_servers import FakeLLMServer

API_KEY = "sk-test-SECRET-0123456789abcdefSECRET"
KEY_ENV = "DRIFT_TEST_PROVIDER_KEY"
PG_URL = os.environ.get("DRIFT_MONITOR_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeLLMServer]]:
    """Start fake servers by dialect; all are stopped after the test."""
    started: list[FakeLLMServer] = []

    def start(dialect: str, **kwargs: Any) -> FakeLLMServer:
        server = FakeLLMServer(dialect, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _store(url: str) -> Store:
    engine = make_engine(url)
    ensure_schema(engine)
    return Store(engine)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = _store(f"sqlite:///{tmp_path / 'test.db'}")
    yield s
    s.engine.dispose()


def _pg_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"),
                             connect_timeout=3):
            return None
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable ({type(exc).__name__}); set DRIFT_MONITOR_TEST_PG_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on SQLite, then on PostgreSQL (a schema of its own)."""
    if request.param == "sqlite":
        s = _store(f"sqlite:///{tmp_path / 'test.db'}")
        yield s
        s.engine.dispose()
        return
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    import psycopg

    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    s = _store(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
    try:
        yield s
    finally:
        s.engine.dispose()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return API_KEY


def make_config(tmp_path: Path, server: FakeLLMServer | None = None, *,
                provider: str | None = None, **target: Any) -> tuple[Config, TargetConfig]:
    """A config with one target ``t-<provider>`` pointed at ``server``."""
    provider = provider or (server.dialect if server else "openai")
    spec: dict[str, Any] = {
        "name": f"t-{provider}", "provider": provider,
        "model": {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-20250514",
                  "gemini": "gemini-2.5-flash"}.get(provider, "m"),
        "api_key_env": KEY_ENV, "suites": ["s"],
        "base_url": server.base_url if server else None, **target}
    settings = Settings.model_validate({"targets": [spec]})
    config = Config(settings=settings, path=tmp_path / "drift-monitor.yaml", lines={},
                    database_url=f"sqlite:///{tmp_path / 'test.db'}")
    return config, settings.targets[0]


def make_probe(probe_id: str, prompt: str | None = None, *, system: str | None = None,
               samples: int | None = 1) -> Probe:
    messages = ([{"role": "system", "content": system}] if system else []) \
        + [{"role": "user", "content": prompt or probe_id}]
    return Probe(suite="s", id=probe_id, messages=tuple(messages), expect=None,
                 samples=samples, version=probe_version(messages, None), file="<test>")


class RecordingSleep:
    """A retry sleep that records the waits asked for and only yields, so tests stay fast."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def fast_retry() -> tuple[RetryPolicy, RecordingSleep]:
    sleep = RecordingSleep()
    return RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.05,
                       retry_after_cap_s=60, sleep=sleep), sleep


def _aiohttp_transport() -> httpx.AsyncBaseTransport:
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(limits=httpx.Limits(max_connections=8))


def _httpcore_transport() -> httpx.AsyncBaseTransport:
    return httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=8))


TRANSPORTS: dict[str, Callable[[], httpx.AsyncBaseTransport]] = {
    "aiohttp": _aiohttp_transport, "httpcore": _httpcore_transport}


@pytest.fixture(params=sorted(TRANSPORTS))
def transport_factory(request: pytest.FixtureRequest) -> Callable[[], httpx.AsyncBaseTransport]:
    """Makes a fresh transport of each kind (the provider closes what it is given)."""
    return TRANSPORTS[request.param]
