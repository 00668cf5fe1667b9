"""Running the daemon for real (issue 14): a failing target shows on /healthz (degraded, still
200) and /metrics (a per-target up gauge) and pages; SIGHUP reloads the config (validated first,
a bad one logged and the old one kept); Ctrl-C during `probe` never leaves a run `running`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.conftest import REPO, TARGET, write_project
from tests.fakes.llm_servers import FakeLLMServer

# daemon processes on loopback: seconds each (`pytest -m "not slow"` leaves them out)
pytestmark = pytest.mark.slow

KEY = "sk-daemon-ops-0123456789abcdefXYZ"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as s:
        s.default = "auth"
        yield s


def failing_project(tmp_path: Path, server: FakeLLMServer) -> Path:
    extra = (f"  - name: bad\n    provider: openai\n    model: gpt-4o\n"
             f"    base_url: {server.base_url}\n    api_key_env: OPS_KEY\n    suites: [mini]\n"
             "    samples: 1\n    schedule: \"every 1s\"\n"
             "    limits: {concurrency: 1, max_attempts: 1}\n")
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'ops.db'}")
    text = config.read_text().replace("server:", extra + "server:", 1)
    config.write_text(text)
    return config


def test_a_failing_target_degrades_healthz_zeroes_its_up_gauge_and_pages(
        tmp_path, daemons, store_for, server) -> None:
    config = failing_project(tmp_path, server)
    d = daemons(config, env={"OPS_KEY": KEY})
    d.wait_event("round finished", timeout=40, target="bad")
    d.wait_event("round finished", timeout=20, target="alpha")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, body = d.get("/healthz")
        health = json.loads(body)
        if health["status"] == "degraded":
            break
        time.sleep(0.3)
    assert status == 200  # the service is up; a target is not
    assert health["status"] == "degraded" and health["failing_targets"] == ["bad"]
    failing = health["targets"]["bad"]["failing"]
    assert failing["error_kind"] == "auth" and failing["http_status"] == 401
    assert "Incorrect API key provided: ***" in failing["message"]
    assert KEY not in body.decode()
    status, metrics = d.get("/metrics")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(metrics.decode()) for s in f.samples}
    assert samples[("drift_monitor_target_up", (("target", "bad"),))] == 0
    assert samples[("drift_monitor_target_up", (("target", "alpha"),))] == 1
    assert samples[("drift_monitor_healthy", ())] == 1
    # the outage pages: an operational incident opens within a few rounds
    store = store_for(f"sqlite:///{tmp_path / 'ops.db'}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not store.incidents(status="open"):
        time.sleep(0.3)
    (incident,) = store.incidents(status="open")
    assert incident.dimension == "operational" and incident.target == "bad"
    # a failed round is a warning, not an info line, and names its fields
    finished = [e for e in d.events() if e.get("event") == "round finished"
                and e.get("target") == "bad"]
    assert finished and finished[0]["level"] == "warning" and finished[0]["status"] == "failed"
    assert KEY not in d.log_path.read_text()


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_when_the_new_is_bad(
        tmp_path, daemons) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'r.db'}")
    d = daemons(config)
    d.wait_event("round finished", timeout=40, target="alpha")
    good = config.read_text().replace(
        "server:", TARGET.format(name="beta", samples=1, schedule="every 1s", delay=0.0,
                                 concurrency=2) + "server:", 1)
    config.write_text(good)
    d.signal(signal.SIGHUP)
    reloaded = d.wait_event("config reloaded", timeout=20)
    assert reloaded["added"] == "beta" and reloaded["targets"] == 2
    d.wait_event("round finished", timeout=20, target="beta")

    config.write_text(good.replace("samples: 1", "sampels: 1", 1))  # an unknown key
    d.signal(signal.SIGHUP)
    refused = d.wait_event("config reload refused: the running config is kept", timeout=20)
    assert refused["level"] == "error" and "sampels" in refused["error"]
    n = sum(e.get("event") == "round finished" and e.get("target") == "beta"
            for e in d.events())
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # both targets still run on the kept config
        if sum(e.get("event") == "round finished" and e.get("target") == "beta"
               for e in d.events()) > n:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("beta stopped running after a refused reload")
    assert d.proc.poll() is None  # SIGHUP no longer kills the daemon
    d.signal(signal.SIGTERM)
    assert d.wait(15) == 0


def test_ctrl_c_during_probe_finishes_the_run_with_what_arrived(tmp_path, store_for) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", samples=40,
                           delay=0.05, concurrency=1)
    env = {"PYTHONPATH": str(REPO)}
    import os

    proc = subprocess.Popen([sys.executable, "-m", "drift_monitor", "--config", str(config),
                             "probe"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **env}, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # the cost estimate comes before the first call
    assert line.startswith("probe alpha: 80 calls a round"), line
    store = store_for(f"sqlite:///{tmp_path / 'c.db'}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = store.runs("alpha")
        if runs and store.responses(runs[0].id):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    (run,) = store.runs("alpha")
    assert run.status != "running" and run.finished_at is not None
    assert 0 < run.ok < 80
    # a plain progress line at the end, not a bar: stderr is not a terminal
    assert "Traceback" not in err
