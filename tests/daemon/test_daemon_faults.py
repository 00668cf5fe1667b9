"""The daemon under the faults of issue 13: a probe's own pathological regex (it used to stop
``/healthz`` and ignore SIGTERM), a daemon killed mid-round (its run must end ``abandoned``,
never pinned into a baseline), and the database cut off mid-round (writes wait, nothing lost).
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from sqlalchemy.engine import make_url

from tests.daemon.conftest import TcpProxy, write_project

# daemon processes on loopback: seconds each (`pytest -m "not slow"` leaves them out)
pytestmark = pytest.mark.slow


def _events(d, name: str) -> list[dict]:
    return [e for e in d.events() if e.get("event") == name]


def test_a_pathological_probe_regex_leaves_healthz_and_sigterm_working(
        tmp_path, daemons) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'd.db'}", schedule="every 30s",
                           samples=4, concurrency=4)
    # every answer takes the regex engine its whole 1 s deadline
    (tmp_path / "probes" / "mini.yaml").write_text(
        "suite: mini\nprobes:\n  - id: evil\n    prompt: say a\n"
        "    expect: {regex: {pattern: '^(a|aa)+$'}}\n")
    (tmp_path / "rec.jsonl").write_text(json.dumps(
        {"prompt": "say a", "response": "a" * 40 + "!"}) + "\n")
    d = daemons(config)
    d.wait_event("scheduler started", timeout=40)
    # a new target waits for its first slot (at most 30 s away)
    d.wait_event("round started", timeout=40)
    answered = 0
    while not _events(d, "round finished"):
        status, _ = d.get("/healthz", timeout=5)
        assert status == 200
        answered += 1
        time.sleep(0.2)
    assert answered >= 1
    (finished,) = _events(d, "round finished")
    assert finished["ok"] == 4
    d.signal(signal.SIGTERM)
    assert d.wait(timeout=15) == 0
    assert any("took over 1 s on one answer" in str(e.get("event")) for e in d.events())


def test_a_daemon_killed_mid_round_leaves_an_abandoned_run_no_baseline_takes(
        tmp_path, pg_url, daemons, store_for) -> None:
    config = write_project(tmp_path, pg_url, schedule="every 1s", samples=6, delay=0.5,
                           concurrency=1)
    a = daemons(config)
    a.wait_event("round started", timeout=40)
    time.sleep(1.0)  # some answers of the round are committed
    a.signal(signal.SIGKILL)
    a.wait(timeout=5)
    b = daemons(config)
    b.wait_event("scheduler started", timeout=40)
    store = store_for(pg_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = store.runs("alpha", limit=500)
        if runs and runs[-1].status != "running":
            break
        time.sleep(0.2)
    killed = store.runs("alpha", limit=500)[-1]  # the oldest: the killed daemon's round
    assert killed.status == "abandoned", killed
    assert 0 < killed.ok < 12
    b.wait_for(lambda e: e.get("event") == "round finished", timeout=40)
    b.signal(signal.SIGTERM)
    assert b.wait(timeout=15) == 0
    tid = store.target_id("alpha")
    assert tid is not None and killed.id not in store.finished_runs(tid)
    baseline = store.active_baseline(tid)
    assert baseline is None or killed.id not in baseline[1]


def test_the_database_cut_off_mid_round_delays_the_writes_and_loses_nothing(
        tmp_path, pg_url, daemons, store_for) -> None:
    real = make_url(pg_url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.start()
    try:
        url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        config = write_project(tmp_path, url, schedule="every 1h", samples=8, delay=0.4,
                               concurrency=1)
        store = store_for(pg_url)
        # a slot an hour ago with no run: the daemon starts with a catch-up round, at once
        from datetime import UTC, datetime, timedelta

        from drift_monitor.storage.engine import ensure_schema

        ensure_schema(store.engine)
        now = datetime.now(UTC)
        store.record_missed("alpha", [now.replace(minute=0, second=0, microsecond=0)
                                      - timedelta(hours=2)], now=now, note="test")
        d = daemons(config)
        d.wait_event("round started", timeout=40, trigger="catch_up")
        time.sleep(1.0)
        proxy.stop()  # answers keep arriving; their writes fail and wait
        time.sleep(4)
        proxy.start()
        (finished,) = [d.wait_event("round finished", timeout=60)]
        assert finished["ok"] == 16 and finished["status"] == "complete", finished
        d.signal(signal.SIGTERM)
        assert d.wait(timeout=15) == 0
    finally:
        proxy.stop()
    runs = store.runs("alpha")
    assert runs[0].status == "complete" and len(store.responses(runs[0].id)) == 16
