"""Fixtures for the daemon: a small project on the replay provider, daemons as real
subprocesses (always stopped afterwards), and a TCP proxy that can cut the database off."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.storage.engine import make_engine
from drift_monitor.storage.queries import Store

REPO = Path(__file__).resolve().parents[2]

PROBES = """\
suite: mini
probes:
  - id: capital
    prompt: What is the capital of France?
  - id: sum
    prompt: What is 2 + 2?
"""
RECORDING = [
    {"prompt": "What is the capital of France?", "response": "Paris.", "prompt_tokens": 7,
     "response_tokens": 2, "latency_s": 0.012},
    {"prompt": "What is 2 + 2?", "response": "4", "prompt_tokens": 7, "response_tokens": 1,
     "latency_s": 0.02},
]
TARGET = """\
  - name: {name}
    provider: replay
    model: m-1
    suites: [mini]
    samples: {samples}
    schedule: "{schedule}"
    params: {{recording: rec.jsonl, delay_s: {delay}}}
    limits: {{concurrency: {concurrency}}}
    price: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}
"""


def write_project(root: Path, database: str, *, targets: tuple[str, ...] = ("alpha",),
                  schedule: str = "every 1s", samples: int = 1, delay: float = 0.0,
                  concurrency: int = 8, extra: str = "") -> Path:
    """A project directory with a config, a two-probe suite and a recording; returns the config
    path. The HTTP server listens on a free port (port 0), which the daemon logs."""
    (root / "probes").mkdir(parents=True, exist_ok=True)
    (root / "probes" / "mini.yaml").write_text(PROBES)
    (root / "rec.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDING))
    body = "".join(TARGET.format(name=n, samples=samples, schedule=schedule, delay=delay,
                                 concurrency=concurrency) for n in targets)
    path = root / "drift-monitor.yaml"
    path.write_text(f"database: {database}\ntargets:\n{body}"
                    f"server: {{host: 127.0.0.1, port: 0}}\n{extra}")
    return path


class DaemonProcess:
    """``drift-monitor run --log-json`` in a subprocess, its log lines parsed as JSON."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT_MONITOR_")}
        full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
        full_env.update(env or {})
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "drift_monitor", "--config", str(config), "run",
             "--log-json"], stdout=subprocess.DEVNULL, stderr=self._log, env=full_env,
            cwd=config.parent)
        self._port: int | None = None

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"event": line, "level": "raw"})
        return out

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0,
                 ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if predicate(e):
                    return e
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n"
                                     + self.log_path.read_text()[-3000:])
            time.sleep(0.1)
        raise AssertionError("timed out waiting for a log event:\n"
                             + self.log_path.read_text()[-3000:])

    def wait_event(self, name: str, timeout: float = 30.0, **fields: Any) -> dict[str, Any]:
        return self.wait_for(lambda e: e.get("event") == name
                             and all(e.get(k) == v for k, v in fields.items()), timeout)

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = int(self.wait_event("http server listening")["port"])
        return self._port

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                        timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=12)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


@pytest.fixture
def daemons() -> Iterator[Callable[..., DaemonProcess]]:
    """Starts daemons; every one is stopped (SIGTERM, then SIGKILL) when the test ends."""
    started: list[DaemonProcess] = []
    counter = iter(range(1000))

    def start(config: Path, env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(config, config.parent / f"daemon-{next(counter)}.log", env)
        started.append(d)
        return d

    try:
        yield start
    finally:
        for d in started:
            d.stop()


@pytest.fixture
def store_for() -> Iterator[Callable[[str], Store]]:
    engines: list[Any] = []

    def make(url: str) -> Store:
        engine = make_engine(url)
        engines.append(engine)
        return Store(engine)

    yield make
    for e in engines:
        e.dispose()


class TcpProxy:
    """Forwards 127.0.0.1:port to a backend; stop() cuts every connection and refuses new
    ones, start() listens again on the same port (the database "comes back")."""

    def __init__(self, backend: tuple[str, int]) -> None:
        self.backend = backend
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.backend, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
