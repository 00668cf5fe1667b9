"""The daemon as a real subprocess on SQLite with one-second schedules: rounds on time, a clean
stop mid-round, one catch-up round after downtime, /metrics, and one daemon per SQLite file."""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.conftest import write_project

# daemon processes on loopback: seconds each (`pytest -m "not slow"` leaves them out)
pytestmark = pytest.mark.slow


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dm.db'}"


def test_rounds_happen_on_time_and_each_slot_is_recorded(tmp_path, daemons, store_for) -> None:
    config = write_project(tmp_path, _sqlite(tmp_path), targets=("alpha", "beta"))
    d = daemons(config)
    d.wait_event("round finished", timeout=40, target="alpha")
    time.sleep(4)
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=12) == 0
    store = store_for(_sqlite(tmp_path))
    for name in ("alpha", "beta"):
        rows = store.slot_claims(name)
        slots = [r.scheduled_for for r in rows]
        assert len(slots) >= 4
        # consecutive one-second slots: no gap, no duplicate
        assert all(b - a == timedelta(seconds=1) for a, b in zip(slots, slots[1:], strict=False))
        done = [r for r in rows if r.status == "done"]
        assert len(done) >= len(rows) - 1, rows
        runs = {r.id: r for r in store.runs(name, limit=100)}
        for r in done:
            run = runs[r.run_id]
            assert run.status == "complete" and run.trigger == "schedule"
            # started for its slot, never before it (how soon after is the machine's load)
            assert run.started_at >= r.scheduled_for


def test_sigterm_mid_round_exits_0_and_leaves_no_half_written_run(tmp_path, daemons,
                                                                   store_for) -> None:
    # 2 probes x 20 samples, one call at a time, 0.3 s each: a round of 12 s
    config = write_project(tmp_path, _sqlite(tmp_path), schedule="every 1h", samples=20,
                           delay=0.3, concurrency=1)
    store = store_for(_sqlite(tmp_path))
    # a slot claimed an hour ago makes the start a catch-up: the round begins at once
    d = daemons(config)
    d.wait_event("scheduler started", timeout=40)
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=12) == 0
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    store.record_missed("alpha", [now.replace(minute=0, second=0, microsecond=0)
                                  - timedelta(hours=1)], now=now, note="test")
    d = daemons(config)
    d.wait_event("round started", timeout=40, trigger="catch_up")
    time.sleep(1.5)
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=60) == 0  # a hang guard; whether it stopped in time is the daemon's
    # own verdict: "clean" means every round had stopped by its stop deadline
    (stopped,) = [e for e in d.events() if e.get("event") == "stopped"]
    assert stopped["clean"] is True
    (run,) = store.runs("alpha")
    assert run.status in ("partial", "failed") and run.finished_at is not None
    assert 0 < run.ok < 40
    assert len(store.responses(run.id)) == run.ok + run.failed
    (claim,) = [c for c in store.slot_claims("alpha") if c.trigger == "catch_up"]
    assert claim.status == "interrupted" and claim.run_id == run.id
    assert any(e.get("event") == "round interrupted by shutdown" for e in d.events())


def test_restart_after_downtime_runs_one_catch_up_round_and_records_missed_slots(
        tmp_path, daemons, store_for) -> None:
    config = write_project(tmp_path, _sqlite(tmp_path), schedule="every 2s")
    d = daemons(config)
    d.wait_event("round finished", timeout=40)
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=12) == 0
    time.sleep(7)  # three or four slots pass with no daemon
    d2 = daemons(config)
    d2.wait_event("round finished", timeout=40, trigger="catch_up")
    time.sleep(2.5)
    d2.signal(signal.SIGTERM)
    assert d2.wait(timeout=12) == 0
    rows = store_for(_sqlite(tmp_path)).slot_claims("alpha")
    catch_up = [r for r in rows if r.trigger == "catch_up"]
    assert len(catch_up) == 1 and catch_up[0].status == "done"
    # the downtime's slots are recorded missed (a slot after the catch-up may be missed too on
    # a busy machine, when it fires while the catch-up round still runs)
    downtime = [r for r in rows if r.scheduled_for < catch_up[0].scheduled_for
                and r.trigger == "schedule" and r.status == "missed"]
    assert len(downtime) >= 2
    assert sum(r.trigger == "catch_up" for r in rows) == 1
    slots = [r.scheduled_for for r in rows]
    assert all(b - a == timedelta(seconds=2) for a, b in zip(slots, slots[1:], strict=False))


def test_metrics_parse_and_count_calls_tokens_cost_and_outbox(tmp_path, daemons) -> None:
    config = write_project(tmp_path, _sqlite(tmp_path))
    d = daemons(config)
    d.wait_event("round finished", timeout=40)
    d.wait_event("round finished", timeout=10, run=2)
    status, body = d.get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}
    assert samples[("drift_monitor_calls_total",
                    (("outcome", "ok"), ("target", "alpha")))] >= 4
    assert samples[("drift_monitor_tokens_total",
                    (("direction", "input"), ("target", "alpha")))] >= 28
    assert samples[("drift_monitor_cost_usd_total", (("target", "alpha"),))] > 0
    assert samples[("drift_monitor_call_latency_seconds_count", (("target", "alpha"),))] >= 4
    assert ("drift_monitor_round_duration_seconds_bucket",
            (("le", "1.0"), ("target", "alpha"))) in samples
    assert samples[("drift_monitor_outbox_notifications", (("status", "pending"),))] == 0
    assert samples[("drift_monitor_open_incidents", (("target", "alpha"),))] == 0
    assert samples[("drift_monitor_healthy", ())] == 1
    status, health = d.get("/healthz")
    assert status == 200
    h = json.loads(health)
    assert h["status"] == "ok" and h["database"]["ok"] and h["scheduler"]["alive"]
    assert h["targets"]["alpha"]["last_run"]["status"] == "complete"
    assert d.get("/nope")[0] == 404


def test_a_second_daemon_on_one_sqlite_database_is_refused(tmp_path, daemons) -> None:
    config = write_project(tmp_path, _sqlite(tmp_path))
    first = daemons(config)
    first.wait_event("scheduler started", timeout=40)
    second = daemons(config)
    assert second.wait(timeout=40) == 2
    text = second.log_path.read_text()
    assert "SQLite supports one daemon" in text and "use PostgreSQL" in text
    assert first.proc.poll() is None


def test_the_daemon_delivers_queued_notifications_from_the_outbox(tmp_path, daemons,
                                                                  store_for) -> None:
    from drift_monitor.app.digest import build_digest, queue_digest
    from drift_monitor.config import load_config
    from drift_monitor.storage.engine import ensure_schema

    config_path = write_project(tmp_path, _sqlite(tmp_path), schedule="every 1h")
    store = store_for(_sqlite(tmp_path))
    ensure_schema(store.engine)
    config = load_config(config_path)
    (key,) = queue_digest(config, store, build_digest(config, store))
    assert store.notification_by_key(key).status == "pending"
    d = daemons(config_path)
    d.wait_event("scheduler started", timeout=40)
    deadline = time.monotonic() + 10
    while store.notification_by_key(key).status == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.notification_by_key(key).status == "delivered"
