"""The unit of work and the errors at Store's edge: the same cases on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from drift_monitor.errors import StatementRejected, StorageError, StorageUnavailable
from drift_monitor.storage.engine import ensure_schema, make_engine, migration_lock
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import (
    Baseline,
    BaselineRun,
    Check,
    FindingRow,
    Incident,
    Notification,
    OperatorAction,
)

CHECK = {"status": "drift", "drift": True, "window_run_ids": [], "baseline_run_ids": [],
         "baseline_responses": 0, "window_responses": 0, "model_string_changed": False,
         "tests_run": 0, "notes": []}
FINDING = {"dimension": "formatting", "metric": "code_fence_rate", "probe": None,
           "suite": "coding", "baseline_value": 0.02, "current_value": 0.8, "effect": 0.78,
           "p_value": 1e-9, "q_value": 1e-8, "severity": "critical", "summary": "moved",
           "examples": [], "direction": 1, "confirmed": True, "confirmed_by": None,
           "details": {}}


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield Store(engine)
    engine.dispose()


def count(store: Store, table: type) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def open_incident(tid: int, check_id: int | None = None) -> dict:
    return {"target_id": tid, "dimension": "formatting", "status": "open",
            "severity": "critical", "summary": "s", "finding_keys": ["coding"],
            "notified_keys": [], "notifications": 0, "opened_at": _now(), "updated_at": _now(),
            "first_check_id": check_id}


def _now():  # type: ignore[no-untyped-def]
    from drift_monitor.clock import utc_now

    return utc_now()


def test_a_check_its_findings_and_its_incidents_commit_together(store: Store) -> None:
    tid = store.upsert_target("bot", "openai", "m")
    with store.transaction() as tx:
        cid = tx.save_check({"target_id": tid, **CHECK}, [FINDING])
        iid = tx.insert_incident(open_incident(tid, cid))
        assert tx.enqueue({"dedup_key": "alert/1", "channel": "console", "kind": "alert",
                           "reason": "first_notification", "target_id": tid,
                           "incident_id": iid, "payload": {}, "status": "pending",
                           "attempts": 0, "created_at": _now(), "next_attempt_at": _now()})
        (row,) = tx.open_incidents(tid)
        assert row.id == iid and row.dimension == "formatting"
    assert [count(store, t) for t in (Check, FindingRow, Incident, Notification)] == [1, 1, 1, 1]


def test_a_failure_inside_a_check_transaction_leaves_nothing_half_written(
        store: Store) -> None:
    tid = store.upsert_target("bot", "openai", "m")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        cid = tx.save_check({"target_id": tid, **CHECK}, [FINDING],
                            evidence={"baseline_id": None, "dimensions": {}})
        tx.insert_incident(open_incident(tid, cid))
        raise RuntimeError("the process died between the findings and the incidents")
    assert [count(store, t) for t in (Check, FindingRow, Incident)] == [0, 0, 0]
    assert store.load_evidence(tid) is None


def test_a_baseline_pin_and_the_incidents_it_accepts_are_atomic(store: Store) -> None:
    tid = store.upsert_target("bot", "openai", "m")
    run = store.create_run(tid, 1)
    with store.transaction() as tx:
        iid = tx.insert_incident(open_incident(tid))
    with pytest.raises(RuntimeError), store.transaction() as tx:
        bid = tx.pin_baseline(tid, [run], reason="accept")
        tx.record_action({"at": _now(), "actor": "alice", "action": "baseline_accept",
                          "target": "bot", "baseline_id": bid, "note": f"runs {[run]}"})
        tx.update_incident(iid, {"status": "accepted", "accepted_baseline_id": bid})
        raise RuntimeError("the accept failed after closing the incident")
    assert [count(store, t) for t in (Baseline, BaselineRun, OperatorAction)] == [0, 0, 0]
    (incident,) = store.incidents()
    assert incident.status == "open" and incident.accepted_baseline_id is None
    with store.transaction() as tx:
        bid = tx.pin_baseline(tid, [run], reason="accept")
        tx.update_incident(iid, {"status": "accepted", "accepted_baseline_id": bid})
    assert store.active_baseline(tid) == (bid, [run])
    assert store.incidents()[0].status == "accepted"


def test_a_statement_the_database_refuses_raises_statement_rejected(store: Store) -> None:
    tid = store.upsert_target("bot", "openai", "m")
    with store.transaction() as tx:
        tx.insert_incident(open_incident(tid))
    # a second open incident of one (target, dimension) breaks the partial unique index
    with pytest.raises(StatementRejected) as caught, store.transaction() as tx:
        tx.insert_incident(open_incident(tid))
    assert not caught.value.retryable and "\n" not in str(caught.value)
    assert str(caught.value).startswith("database error: ")
    assert len(store.incidents()) == 1


def test_an_unreachable_database_raises_storage_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.db"
    store = Store(make_engine(f"sqlite:///{missing}"))
    with pytest.raises(StorageUnavailable) as caught:
        store.target_id("bot")
    assert caught.value.retryable and isinstance(caught.value, StorageError)
    store.engine.dispose()


def test_the_migration_lock_is_held_and_released(store: Store) -> None:
    with migration_lock(store.engine):
        assert store.target_id("nobody") is None
    with migration_lock(store.engine):  # released: taking it again does not block
        pass
