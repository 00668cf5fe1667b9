"""Shared fixtures. ``db_url`` runs a test once on SQLite and once on PostgreSQL.

PostgreSQL comes from DRIFT_MONITOR_TEST_PG_URL (default: the local server's `test` database);
each test gets its own schema there, dropped afterwards. Where the server is unreachable the
PostgreSQL cases skip with a reason that says so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("DRIFT_MONITOR_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data" / "llmdrift-gpt35"
BUNDLED_DATA = REPO / "drift_monitor" / "data" / "llmdrift_gpt35"

_pg_reason: str | None = None
_pg_checked = False


def pg_unavailable_reason() -> str | None:
    global _pg_checked, _pg_reason
    if not _pg_checked:
        _pg_checked = True
        try:
            import psycopg

            conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(conninfo, connect_timeout=3):
                pass
        except Exception as exc:  # any failure means: skip, and say why
            _pg_reason = (f"PostgreSQL not reachable at {PG_URL.split('@')[-1]} "
                          f"({type(exc).__name__}); set DRIFT_MONITOR_TEST_PG_URL")
    return _pg_reason


def _pg_schema_url() -> Iterator[str]:
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    _skip_or_fail_without_pg()
    yield from _pg_schema_url()


def _skip_or_fail_without_pg() -> None:
    reason = pg_unavailable_reason()
    if reason and os.environ.get("DRIFT_MONITOR_REQUIRE_PG"):
        pytest.fail(reason + " and DRIFT_MONITOR_REQUIRE_PG is set")
    if reason:
        pytest.skip(reason)


@pytest.fixture
def pg_url() -> Iterator[str]:
    _skip_or_fail_without_pg()
    yield from _pg_schema_url()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No drift-monitor variables leak in from the developer's shell."""
    for var in ("DRIFT_MONITOR_CONFIG", "DRIFT_MONITOR_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture
def hostile_env(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The API key of tests.fakes.project's targets in the environment; logs captured."""
    import logging

    from tests.fakes.project import API_KEY, KEY_ENV

    monkeypatch.setenv(KEY_ENV, API_KEY)
    caplog.set_level(logging.INFO)
