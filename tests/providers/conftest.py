"""Fixtures for the provider tests: loopback fake servers, a migrated database, a target
config with a secret API key, probes, and transports of both kinds."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from drift_monitor.config import Config, Settings, TargetConfig
from drift_monitor.probes import Probe, probe_version
from drift_monitor.providers._retry import RetryPolicy
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
                  "gemini": "gemini-2.5-flash", **CLOUD_MODELS}.get(provider, "m"),
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


# --- the cloud kinds: credentials their fakes accept ----------------------------------------

CLOUD_MODELS = {"azure_openai": "gpt-4o", "bedrock": "anthropic.claude-3-5-sonnet-20240620-v1:0",
                "vertex": "gemini-1.5-pro-002", "openai_responses": "gpt-4.1"}


@pytest.fixture(scope="session")
def google_service_account_key() -> tuple[str, str]:
    """(private key PEM, public key PEM) of a throwaway RSA key for a test service account."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


@pytest.fixture
def cloud_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                      google_service_account_key: tuple[str, str],
                      ) -> Callable[[FakeLLMServer], tuple[dict[str, Any], list[str]]]:
    """Point the platform's credential chain at ``server``'s fake and return (the target keys
    for it, the secrets that must leak nowhere). The network is never asked: AWS instance
    metadata is disabled and Google's service account gets its token from the fake."""

    def setup(server: FakeLLMServer) -> tuple[dict[str, Any], list[str]]:
        kind = server.dialect
        spec: dict[str, Any] = {"provider": kind, "model": CLOUD_MODELS.get(kind, "m")}
        if kind in ("azure_openai", "openai_responses"):
            server.api_key = API_KEY
            monkeypatch.setenv(KEY_ENV, API_KEY)
            if kind == "azure_openai":
                spec.update(deployment="prod-gpt4o", api_version="2024-10-21")
            return spec, [API_KEY]
        spec["api_key_env"] = None
        if kind == "bedrock":
            keys = server.aws
            for name, value in {"AWS_ACCESS_KEY_ID": keys.access_key,
                                "AWS_SECRET_ACCESS_KEY": keys.secret_key,
                                "AWS_SESSION_TOKEN": keys.token or "",
                                "AWS_EC2_METADATA_DISABLED": "true",
                                "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-creds"),
                                }.items():
                monkeypatch.setenv(name, value)
            monkeypatch.delenv("AWS_PROFILE", raising=False)
            spec["region"] = keys.region
            return spec, [keys.secret_key, keys.token or keys.secret_key]
        if kind == "vertex":
            private, public = google_service_account_key
            server.google_public_keys = {"k1": public}
            sa = tmp_path / "service-account.json"
            sa.write_text(json.dumps({
                "type": "service_account", "project_id": "drift-test", "private_key_id": "k1",
                "private_key": private, "client_email": "probe@drift-test.iam.gserviceaccount.com",
                "client_id": "1", "token_uri": server.token_url}))
            monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(sa))
            spec.update(project="drift-test", location="us-central1")
            return spec, [private.splitlines()[5]]
        raise ValueError(f"{kind} is not a cloud kind")

    return setup
