"""Every target's state and numbers (`targets` and the console's overview), from stored rows,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from drift_monitor.alerting.operations import add_silence
from drift_monitor.app.overview import overview
from drift_monitor.config import Config
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Check, ProbeVersion, Response, Run
from tests.alerting.conftest import Clock, finding, record_check

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the alerting Clock's start


def add_run(store: Store, tid: int, at: datetime, *, ok: int = 2, failed: int = 0,
            model: str = "gpt-3.5-turbo-0613", cost: float | None = 0.01) -> int:
    with store.engine.begin() as conn:
        run_id = conn.execute(insert(Run).values(
            target_id=tid, status="failed" if ok == 0 else "complete", trigger="schedule",
            started_at=at, finished_at=at, expected_count=ok + failed, ok_count=ok,
            failed_count=failed).returning(Run.id)).scalar_one()
        pv = conn.execute(insert(ProbeVersion).values(
            suite="s", probe_id=f"p{run_id}", version="v", content={}, created_at=at)
            .returning(ProbeVersion.id)).scalar_one()
        rows: list[dict[str, Any]] = [
            {"run_id": run_id, "probe_version_id": pv, "sample_index": i, "ok": i < ok,
             "model_returned": model if i < ok else None, "cost_usd": cost if i < ok else None,
             "error_kind": None if i < ok else "timeout", "created_at": at}
            for i in range(ok + failed)]
        conn.execute(insert(Response), rows)
    return int(run_id)


def status(config: Config, store: Store, now: datetime = NOW) -> Any:
    (s,) = overview(config, store, now)
    return s


def test_numbers_of_the_last_24_hours_and_of_today(config: Config, store: Store) -> None:
    tid = store.upsert_target("support-bot", "replay", "gpt-3.5-turbo")
    add_run(store, tid, NOW - timedelta(days=2), model="old-model")  # outside both windows
    add_run(store, tid, NOW - timedelta(hours=10), model="gpt-a")  # yesterday, within 24 h
    add_run(store, tid, NOW - timedelta(hours=1), ok=3, failed=1, model="gpt-b")
    s = status(config, store)
    assert s.runs_24h == 2
    assert s.error_rate_24h == pytest.approx(1 / 6)
    assert s.cost_today_usd == pytest.approx(0.03)  # only the run since 00:00 UTC
    assert s.model_strings_24h == {"gpt-a": 2, "gpt-b": 3}
    assert s.state == "ok" and s.last_run is not None and s.last_run.ok_count == 3


def test_states_first_match_wins(config: Config, store: Store) -> None:
    assert (status(config, store).state, status(config, store).why) == ("stale", "no run yet")
    tid = store.upsert_target("support-bot", "replay", "gpt-3.5-turbo")
    add_run(store, tid, NOW - timedelta(hours=3))  # schedule every 1h: two intervals passed
    assert status(config, store).state == "stale"
    add_run(store, tid, NOW - timedelta(minutes=5), ok=0, failed=2)
    assert status(config, store).state == "failing"
    add_run(store, tid, NOW - timedelta(minutes=1))
    assert status(config, store).state == "ok"
    with store.engine.begin() as conn:
        conn.execute(insert(Check).values(target_id=tid, created_at=NOW, status="unconfirmed",
                                          drift=False))
    assert status(config, store).state == "confirming"
    clock = Clock()
    record_check(config, store, [finding()], clock)
    s = status(config, store)
    assert s.state == "drifting" and s.open_incidents[0]["silenced_by"] is None
    silence = add_silence(config, store, target="support-bot", dimension="formatting",
                          reason="known", actor="a", now=NOW - timedelta(minutes=1),
                          for_="1h")
    s = status(config, store)
    assert s.state == "silenced" and s.open_incidents[0]["silenced_by"] == silence.id
    assert status(config, store, NOW + timedelta(hours=1)).state == "drifting"  # silence over
