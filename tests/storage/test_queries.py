"""Store: the same cases on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from drift_monitor.probes import Probe, probe_version
from drift_monitor.storage import engine as eng
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Response


def make_probe(pid: str, prompt: str) -> Probe:
    messages = ({"role": "user", "content": prompt},)
    return Probe(suite="s", id=pid, messages=messages, expect=None, samples=None,
                 version=probe_version(list(messages), None), file="s.yaml")


@pytest.fixture
def engine(db_url: str) -> Engine:
    e = eng.make_engine(db_url)
    eng.ensure_schema(e)
    yield e
    e.dispose()


def ok_row(run_id: int, pv: int, i: int, text: str = "hi") -> dict:
    return {"run_id": run_id, "probe_version_id": pv, "sample_index": i, "ok": True,
            "text": text, "input_tokens": 3, "output_tokens": 1}


def test_response_key_is_idempotent(engine: Engine) -> None:
    store = Store(engine)
    tid = store.upsert_target("bot", "openai", "gpt-4o")
    pv = store.ensure_probe_versions([make_probe("p1", "hello")])[("s", "p1", make_probe(
        "p1", "hello").version)]
    run = store.create_run(tid, expected=2)
    assert store.insert_responses([ok_row(run, pv, 0), ok_row(run, pv, 1)]) == 2
    # the same keys again (a retried write) add nothing and change nothing
    assert store.insert_responses([ok_row(run, pv, 0, "other"), ok_row(run, pv, 1)]) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Response)).scalar() == 2
        texts = conn.execute(select(Response.text).order_by(Response.sample_index)).scalars()
        assert list(texts) == ["hi", "hi"]


def test_probe_versions_are_reused_and_never_mixed(engine: Engine) -> None:
    store = Store(engine)
    a = make_probe("p1", "hello")
    ids1 = store.ensure_probe_versions([a])
    ids2 = store.ensure_probe_versions([a])
    edited = make_probe("p1", "hello there")
    ids3 = store.ensure_probe_versions([edited])
    assert ids1 == ids2
    assert ids3[("s", "p1", edited.version)] != ids1[("s", "p1", a.version)]


def test_upsert_target_is_stable(engine: Engine) -> None:
    store = Store(engine)
    assert store.upsert_target("bot", "openai", "m1") == store.upsert_target("bot", "openai", "m2")
    assert store.target_id("bot") is not None and store.target_id("nobody") is None


@pytest.mark.parametrize("ok, failed, expected", [(3, 0, "complete"), (2, 1, "partial"),
                                                  (0, 3, "failed")])
def test_run_status_from_stored_responses(engine: Engine, ok: int, failed: int,
                                          expected: str) -> None:
    store = Store(engine)
    tid = store.upsert_target("bot", "openai", "gpt-4o")
    p = make_probe("p1", "hello")
    pv = store.ensure_probe_versions([p])[("s", "p1", p.version)]
    run = store.create_run(tid, expected=3)
    rows = [ok_row(run, pv, i) for i in range(ok)]
    rows += [{"run_id": run, "probe_version_id": pv, "sample_index": ok + i, "ok": False,
              "error_kind": "rate_limited", "error_detail": "429"} for i in range(failed)]
    store.insert_responses(rows)
    summary = store.finish_run(run)
    assert (summary.status, summary.ok, summary.failed) == (expected, ok, failed)
    assert summary.failures_by_kind == ({"rate_limited": failed} if failed else {})
    assert summary.finished_at is not None and summary.finished_at.tzinfo is not None
    assert [r.id for r in store.runs("bot")] == [run]


def test_sqlite_file_is_created_on_first_use(tmp_path: Path) -> None:
    e = eng.make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    eng.ensure_schema(e)
    assert (tmp_path / "new.db").exists()
    e.dispose()
