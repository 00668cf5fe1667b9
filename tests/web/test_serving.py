"""The console as the daemon and `serve` run it: real processes, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.daemon.conftest import REPO, daemons, write_project  # noqa: F401 (fixture)
from tests.web.conftest import TOKEN

# daemon processes on loopback: seconds each (`pytest -m "not slow"` leaves them out)
pytestmark = pytest.mark.slow


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    return {**out, **extra}


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_daemon_serves_the_console_beside_healthz_and_metrics(tmp_path: Path,
                                                                 daemons) -> None:  # noqa: F811
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'd.db'}")
    d = daemons(config)
    d.wait_event("round finished", timeout=30)
    status, body = d.get("/")
    assert status == 200 and b"alpha" in body and b"<table" in body
    status, body = d.get("/targets/alpha")
    assert status == 200 and b"Runs (latest 50)" in body
    status, body = d.get("/healthz")
    assert status == 200 and b'"status": "ok"' in body
    status, body = d.get("/metrics")
    assert status == 200 and b"drift_monitor_healthy 1.0" in body


def test_the_daemon_refuses_to_start_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'd.db'}")
    config.write_text(config.read_text().replace("host: 127.0.0.1", "host: 0.0.0.0"))
    r = subprocess.run([sys.executable, "-m", "drift_monitor", "--config", str(config), "run"],
                       capture_output=True, text=True, env=env(), timeout=60)
    assert r.returncode == 2
    assert "not a loopback address" in r.stderr and "server.auth_token_env" in r.stderr


def test_beyond_loopback_the_daemon_console_requires_the_token(tmp_path: Path,
                                                             daemons) -> None:  # noqa: F811
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'd.db'}")
    config.write_text(config.read_text().replace(
        "host: 127.0.0.1", "host: 0.0.0.0, auth_token_env: TEST_CONSOLE_TOKEN"))
    d = daemons(config, env={"TEST_CONSOLE_TOKEN": TOKEN})
    base = f"http://127.0.0.1:{d.port}"
    assert get(base + "/")[0] == 401
    status, body = get(base + "/", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "alpha" in body and TOKEN not in body
    assert get(base + "/healthz")[0] in (200, 503)  # open, for probes and scrapers


def start_serve(config: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "drift_monitor", "--config", str(config),
                             "serve", *args], stderr=subprocess.PIPE, text=True, env=env())
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "console on http://" in line, line
    return proc, line.split("console on ", 1)[1].split(" ", 1)[0]


def test_serve_is_a_read_only_console_that_stops_on_sigterm(tmp_path: Path) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'd.db'}")
    proc, url = start_serve(config)
    try:
        status, body = get(url + "/")
        assert status == 200 and "alpha" in body and "read-only" in body
        assert get(url + "/healthz")[0] == 404  # no daemon, no health to report
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_exits_2_when_it_cannot_start(tmp_path: Path) -> None:
    config = write_project(tmp_path, f"sqlite:///{tmp_path / 'd.db'}")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = subprocess.run([sys.executable, "-m", "drift_monitor", "--config", str(config),
                            "serve", "--port", str(port)], capture_output=True, text=True,
                           env=env(), timeout=60)
        assert r.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    finally:
        busy.close()
    r = subprocess.run([sys.executable, "-m", "drift_monitor", "--config", str(config),
                        "serve", "--host", "0.0.0.0"], capture_output=True, text=True,
                       env=env(), timeout=60)
    assert r.returncode == 2 and "not a loopback address" in r.stderr
