"""Several daemons on one PostgreSQL: every slot claimed once, none left out, and when one
daemon is killed the other carries on. /healthz follows the database going away and back."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import make_url

from tests.daemon.conftest import TcpProxy, write_project

# daemon processes on loopback: seconds each (`pytest -m "not slow"` leaves them out)
pytestmark = pytest.mark.slow


def _slot_table(store, target: str) -> dict[datetime, dict]:
    rows = store.slot_claims(target)
    by_slot: dict[datetime, dict] = {}
    for r in rows:
        assert r.scheduled_for not in by_slot, "a slot has two rows"
        by_slot[r.scheduled_for] = r
    return by_slot


def _runs_per_slot(store, target: str) -> dict[datetime, int]:
    counts: dict[datetime, int] = {}
    for run in store.runs(target, limit=500):
        claim_slot = next((c.scheduled_for for c in store.slot_claims(target)
                           if c.run_id == run.id), None)
        if claim_slot is not None:
            counts[claim_slot] = counts.get(claim_slot, 0) + 1
    return counts


def _daemon_id(d) -> str:
    return next(e["daemon"] for e in d.events() if e.get("event") == "daemon registered")


def test_two_daemons_on_postgresql_run_20_slots_once_each_with_no_gap(
        tmp_path, pg_url, daemons, store_for) -> None:
    config = write_project(tmp_path, pg_url)
    a = daemons(config)
    a.wait_event("scheduler started", timeout=40)
    b = daemons(config)
    b.wait_event("scheduler started", timeout=40)
    both_up = datetime.now(UTC)
    time.sleep(22.5)
    a.signal(signal.SIGTERM)
    b.signal(signal.SIGTERM)
    assert a.wait(timeout=12) == 0 and b.wait(timeout=12) == 0
    store = store_for(pg_url)
    table = _slot_table(store, "alpha")
    window = [s for s in sorted(table) if s >= both_up + timedelta(seconds=1)][:20]
    # no gap: 20 consecutive seconds, every one with its row
    assert len(window) == 20 and window[-1] - window[0] == timedelta(seconds=19)
    done = [s for s in window if table[s].status == "done"]
    assert len(done) >= 18, [(s, table[s].status, table[s].note) for s in window]
    # no duplicate: one run per slot, and the daemons shared the work
    per_slot = _runs_per_slot(store, "alpha")
    assert all(per_slot.get(s) == 1 for s in done)
    owners = {table[s].daemon_id for s in done}
    assert owners <= {_daemon_id(a), _daemon_id(b)}


def test_sigkill_of_one_daemon_the_other_carries_on_within_two_ticks(
        tmp_path, pg_url, daemons, store_for) -> None:
    config = write_project(tmp_path, pg_url)
    a = daemons(config)
    a.wait_event("scheduler started", timeout=40)
    b = daemons(config)
    b.wait_event("scheduler started", timeout=40)
    time.sleep(3)
    a.signal(signal.SIGKILL)
    a.wait(timeout=5)
    killed_at = datetime.now(UTC)
    time.sleep(6)
    b.signal(signal.SIGTERM)
    assert b.wait(timeout=12) == 0
    table = _slot_table(store_for(pg_url), "alpha")
    after = [s for s in sorted(table) if killed_at + timedelta(seconds=2) <= s
             <= killed_at + timedelta(seconds=5)]
    assert len(after) >= 3
    b_id = _daemon_id(b)
    for s in after:
        assert table[s].status == "done" and table[s].daemon_id == b_id, table[s]
    assert all(r.status != "running" for r in table.values() if r.scheduled_for
               < killed_at - timedelta(seconds=4))


def test_healthz_turns_503_when_the_database_goes_away_and_200_when_it_returns(
        tmp_path, pg_url, daemons) -> None:
    real = make_url(pg_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.start()
    try:
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        config = write_project(tmp_path, url, schedule="every 5s")
        d = daemons(config)
        d.wait_event("scheduler started", timeout=40)
        status, body = d.get("/healthz")
        assert status == 200, body
        proxy.stop()
        deadline = time.monotonic() + 10
        while (status := d.get("/healthz")[0]) != 503 and time.monotonic() < deadline:
            time.sleep(0.3)
        status, body = d.get("/healthz")
        assert status == 503
        health = json.loads(body)
        assert health["database"]["ok"] is False and health["status"] == "unhealthy"
        assert health["scheduler"]["alive"] is True
        proxy.start()
        deadline = time.monotonic() + 10
        while (status := d.get("/healthz")[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert status == 200
    finally:
        proxy.stop()
