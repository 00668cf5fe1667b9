"""The stale-run sweep: a run left ``running`` by a process that died is finished as
``abandoned`` by the next command that writes, and is never pinned into a baseline, put in a
check window or counted as done by the digest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from drift_monitor.clock import utc_now
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Run
from tests.fakes.llm_servers import FakeLLMServer
from tests.fakes.project import API_KEY, KEY_ENV, run_cli, write_project


def _store(url: str) -> Store:
    engine = make_engine(url)
    ensure_schema(engine)
    return Store(engine)


def _wait_for(pred: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.slow  # kill -9 of a probe subprocess
def test_a_kill_9_probe_leaves_a_run_the_next_command_finishes_as_abandoned(
        db_url: str, tmp_path: Path, hostile_env: None) -> None:
    prompts = [f"p{i}" for i in range(6)]
    with FakeLLMServer("openai") as server:
        server.default = "slow"  # calls hang until the client goes away
        project = write_project(tmp_path, provider="openai", db_url=db_url,
                                base_url=server.base_url, prompts=prompts)
        proc = subprocess.Popen(
            [sys.executable, "-m", "drift_monitor", "--config",
             str(project / "drift-monitor.yaml"), "probe"],
            env={**os.environ, KEY_ENV: API_KEY}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: server.count() >= 1)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)  # reaped: its pid no longer exists
        finally:
            if proc.poll() is None:
                proc.kill()
        store = _store(db_url)
        (run,) = store.runs("t")
        assert run.status == "abandoned"  # the sweep ran inside ensure_schema above
        server.default = "ok"
        for _ in range(3):
            assert run_cli(project, "probe")[0] == 0
    runs = {r.id: r for r in store.runs("t")}
    assert runs[run.id].status == "abandoned"
    from sqlalchemy import select

    with store.engine.connect() as conn:
        note = conn.execute(select(Run.note).where(Run.id == run.id)).scalar_one()
    assert "no longer exists" in note
    # never in a baseline, never counted as done
    code, out = run_cli(project, "check", "--no-notify", "--json")
    assert "Traceback" not in out
    tid = store.target_id("t")
    assert tid is not None
    baseline = store.active_baseline(tid)
    assert baseline is not None and run.id not in baseline[1]
    assert run.id not in store.finished_runs(tid)
    from drift_monitor.config import load_config
    from drift_monitor.digest.build import _target_digest

    config = load_config(project / "drift-monitor.yaml")
    now = utc_now()
    digest = _target_digest(config, store, config.target("t"), now - timedelta(days=1),
                            now + timedelta(minutes=1))
    assert digest["runs_done"] == 3 and digest["runs_abandoned"] == 1
    store.engine.dispose()


def test_the_sweep_abandons_runs_whose_heartbeat_stopped_and_keeps_live_ones(
        db_url: str) -> None:
    store = _store(db_url)
    tid = store.upsert_target("t", "openai", "m")
    stale, live, legacy, legacy_new = (store.create_run(tid, 3) for _ in range(4))
    now = utc_now()
    with store.engine.begin() as conn:
        conn.execute(update(Run).where(Run.id.in_([stale, live])).values(owner="elsewhere:1"))
        conn.execute(update(Run).where(Run.id == stale)
                     .values(heartbeat_at=now - timedelta(minutes=10)))
        conn.execute(update(Run).where(Run.id.in_([legacy, legacy_new]))
                     .values(owner=None, heartbeat_at=None))
        conn.execute(update(Run).where(Run.id == legacy)
                     .values(started_at=now - timedelta(days=2)))
    assert sorted(store.sweep_stale_runs()) == sorted([stale, legacy])
    status = {r.id: r.status for r in store.runs("t")}
    assert status == {stale: "abandoned", live: "running", legacy: "abandoned",
                      legacy_new: "running"}
    # a run this process owns is alive by definition
    mine = store.create_run(tid, 1)
    assert mine not in store.sweep_stale_runs()
    store.touch_run(mine)
    store.engine.dispose()


def test_an_abandoned_run_is_never_pinned_into_the_automatic_baseline(db_url: str) -> None:
    from drift_monitor.app.baselines import ensure_baseline

    store = _store(db_url)
    tid = store.upsert_target("t", "openai", "m")
    runs = [store.create_run(tid, 1) for _ in range(4)]
    assert store.abandon_run(runs[0], "abandoned: the daemon died")
    assert not store.abandon_run(runs[0], "again")  # one process does it
    for r in runs[1:]:
        store.finish_run(r)
    with store.engine.begin() as conn:  # finish_run on empty runs says failed; make them count
        conn.execute(update(Run).where(Run.id.in_(runs[1:])).values(status="partial"))
    pinned = ensure_baseline(store, tid, "t", 3)
    assert runs[0] not in pinned.run_ids
    store.engine.dispose()
