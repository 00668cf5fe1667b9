"""Storage faults mid-round against real databases: a PostgreSQL outage (a throwaway cluster
of the test's own, stopped and restarted), an SQLite file locked past its busy timeout, a
database dropped under a round, a read-only database, a schema from a newer version, and a
row the database refuses. Committed data is kept, the round is finished, errors are one line.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from drift_monitor.runner import probe_round
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Response, Run
from tests.fakes import pg_cluster
from tests.fakes.llm_servers import FakeLLMServer
from tests.fakes.project import assert_no_traceback, run_cli, write_project
from tests.providers.conftest import make_config, make_probe

PROMPTS = [f"p{i}" for i in range(24)]


def _store(url: str) -> Store:
    engine = make_engine(url)
    ensure_schema(engine)
    return Store(engine)


def _when(server: FakeLLMServer, calls: int, action: Any) -> threading.Thread:
    """Run ``action`` in a thread once the server has seen ``calls`` requests."""
    def run() -> None:
        deadline = time.monotonic() + 30
        while server.count() < calls and time.monotonic() < deadline:
            time.sleep(0.01)
        action()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.fixture
def own_pg() -> Iterator[pg_cluster.PgCluster]:
    reason = pg_cluster.unavailable_reason()
    if reason:
        pytest.skip(reason)
    cluster = pg_cluster.PgCluster()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.mark.slow  # starts and stops a PostgreSQL cluster of its own
def test_a_postgresql_outage_mid_round_delays_writes_but_loses_no_answer(
        own_pg: pg_cluster.PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_TEST_PROVIDER_KEY", "sk-test-key-123456")
    store = _store(own_pg.url)
    with FakeLLMServer("openai", latency_s=0.25) as server:
        config, target = make_config(tmp_path, server, limits={"concurrency": 2})

        def outage() -> None:
            own_pg.stop()
            time.sleep(5)  # the 5 s outage of the campaign
            own_pg.start()

        fault = _when(server, 4, outage)
        summary = asyncio.run(probe_round(config, target, store,
                                          [make_probe(p) for p in PROMPTS]))
        fault.join(30)
    assert summary.status == "complete", summary
    assert summary.ok == len(PROMPTS)
    with store.engine.connect() as conn:
        assert conn.execute(select(Response.id)).all().__len__() == len(PROMPTS)
    store.engine.dispose()


@pytest.mark.slow  # waits out a lock or a retry budget: seconds
def test_an_sqlite_file_locked_past_its_busy_timeout_is_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_TEST_PROVIDER_KEY", "sk-test-key-123456")
    path = tmp_path / "locked.db"
    store = _store(f"sqlite:///{path}")
    with FakeLLMServer("openai", latency_s=0.05) as server:
        config, target = make_config(tmp_path, server, limits={"concurrency": 2})
        released = threading.Event()

        def lock() -> None:
            conn = sqlite3.connect(path, timeout=30)
            conn.execute("BEGIN EXCLUSIVE")
            time.sleep(11)  # past the 10 s busy timeout: the write fails, then is retried
            conn.rollback()
            conn.close()
            released.set()

        fault = _when(server, 2, lock)
        summary = asyncio.run(probe_round(config, target, store,
                                          [make_probe(p) for p in PROMPTS]))
        fault.join(30)
    assert released.is_set()
    assert summary.status == "complete" and summary.ok == len(PROMPTS)
    store.engine.dispose()


def test_a_database_dropped_mid_round_gives_one_line_and_exit_2(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None) -> None:
    from tests.conftest import pg_unavailable_reason

    reason = pg_unavailable_reason()
    if reason:
        pytest.skip(reason)
    import uuid

    import psycopg

    from tests.conftest import PG_URL

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        with FakeLLMServer("openai", latency_s=0.1) as server:
            project = write_project(tmp_path, provider="openai", db_url=url,
                                    base_url=server.base_url, prompts=PROMPTS)

            def drop() -> None:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

            fault = _when(server, 3, drop)
            code, out = run_cli(project, "probe")
            fault.join(30)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert code == 2, out
    assert_no_traceback(out, caplog)
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "database" in errors[0], out


def test_check_on_a_read_only_database_exits_2_with_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ro.db"
    rec = tmp_path / "rec.jsonl"
    rec.write_text('{"prompt": "p0", "response": "yes"}\n')
    project = write_project(tmp_path, provider="replay", db_url=f"sqlite:///{path}",
                            prompts=["p0"], params={"recording": str(rec)})
    for _ in range(4):
        assert run_cli(project, "probe")[0] == 0
    monkeypatch.setenv("DRIFT_MONITOR_DATABASE_URL", f"sqlite:///file:{path}?mode=ro&uri=true")
    code, out = run_cli(project, "check", "--no-notify")
    assert code == 2, out
    assert_no_traceback(out, caplog)
    assert out.strip().count("\n") == 0 and out.startswith("error: database error:"), out
    assert "readonly" in out


def test_db_upgrade_on_a_database_from_a_newer_version_says_so(
        db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        hostile_env: None) -> None:
    store = _store(db_url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    store.engine.dispose()
    project = write_project(tmp_path, provider="replay", db_url=db_url, prompts=["p"],
                            params={"recording": "builtin:llmdrift-gpt35"})
    code, out = run_cli(project, "db", "upgrade")
    assert code == 2, out
    assert_no_traceback(out, caplog)
    assert "9999_future" in out and "does not know" in out


def test_a_row_the_database_refuses_is_stored_as_malformed_and_the_batch_survives(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # bounds off: a value they do not know about must still cost only its own row
    import drift_monitor.storage.run_queries as q

    monkeypatch.setattr(q, "bound_response_row", lambda row: dict(row))
    store = _store(db_url)
    tid = store.upsert_target("t", "openai", "m")
    probes = [make_probe(p) for p in ("a", "b", "c")]
    pv = store.ensure_probe_versions(probes)
    run = store.create_run(tid, 3)
    rows = [{"run_id": run, "probe_version_id": pv[(p.suite, p.id, p.version)],
             "sample_index": 0, "ok": True, "text": t, "attempts": 1}
            for p, t in zip(probes, ["fine", "bad \ud800 surrogate", "also fine"], strict=True)]
    assert store.insert_responses(rows) == 3
    by_text = {r.text: r for r in store.responses(run)}
    assert by_text["fine"].ok and by_text["also fine"].ok
    bad = [r for r in store.responses(run) if not r.ok]
    assert len(bad) == 1 and bad[0].error_kind == "malformed"
    assert "could not be stored" in (bad[0].error_detail or "")
    store.engine.dispose()


def test_a_cancelled_round_stops_waiting_out_a_database_outage() -> None:
    """SIGTERM must not wait for the writer's 60 s of retries: the abort event ends them."""
    from sqlalchemy.exc import OperationalError

    from drift_monitor.errors import StorageError
    from drift_monitor.runner import with_storage_retries

    calls = []

    def failing() -> None:
        calls.append(1)
        if len(calls) == 2:
            abort.set()  # the round is cancelled while the database is away
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    abort = threading.Event()
    with pytest.raises(StorageError, match="stopped while the database failed"):
        with_storage_retries(failing, 3600, what="storing responses", abort=abort)
    assert len(calls) == 2


def test_a_write_refused_for_a_broken_schema_is_not_retried() -> None:
    from sqlalchemy.exc import ProgrammingError

    from drift_monitor.errors import StorageError
    from drift_monitor.runner import with_storage_retries

    calls = []

    def failing() -> None:
        calls.append(1)
        raise ProgrammingError("INSERT", {}, Exception('relation "responses" does not exist'))

    with pytest.raises(StorageError, match="does not exist"):
        with_storage_retries(failing, 3600, what="storing responses")
    assert calls == [1]


@pytest.mark.slow  # waits out a lock or a retry budget: seconds
def test_a_round_whose_writes_give_up_is_finished_partial_with_a_note_and_one_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hostile_env: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer gives up (here after 1 s of retries instead of 60), the round stops, and once
    the database answers again the run is finished with what was committed and a note."""
    import drift_monitor.runner as runner

    monkeypatch.setattr(runner, "STORAGE_RETRY_S", 1.0)
    path = tmp_path / "x.db"
    with FakeLLMServer("openai", latency_s=0.05) as server:
        project = write_project(tmp_path, provider="openai", db_url=f"sqlite:///{path}",
                                base_url=server.base_url, prompts=PROMPTS)
        released = threading.Event()

        def lock() -> None:
            conn = sqlite3.connect(path, timeout=30)
            conn.execute("BEGIN EXCLUSIVE")
            time.sleep(12)  # the writer fails after the 10 s busy timeout + 1 s of retries
            conn.rollback()
            conn.close()
            released.set()

        fault = _when(server, 4, lock)
        code, out = run_cli(project, "probe")
        fault.join(30)
    assert code == 2, out
    assert_no_traceback(out, caplog)
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "database is locked" in errors[0], out
    store = _store(f"sqlite:///{path}")
    (run,) = store.runs("t")
    assert run.status in ("partial", "failed") and run.finished_at is not None
    assert len(store.responses(run.id)) == run.ok + run.failed < len(PROMPTS)
    with store.engine.connect() as conn:
        note = conn.execute(select(Run.note).where(Run.id == run.id)).scalar_one()
    assert note.startswith("storage failed mid-round") and "calls not stored" in note
    store.engine.dispose()
