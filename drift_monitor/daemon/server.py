"""``/healthz`` and ``/metrics`` over HTTP, on a small threaded server of the standard library.

``/healthz`` answers 200 with a JSON body when the database answers and the scheduler is alive,
503 with the same body (saying what is wrong) otherwise. ``/metrics`` is the Prometheus text
format from prometheus-client. Both read one health snapshot, computed at most once a second,
so a scraper cannot load the database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger("drift_monitor.daemon")

Snapshot = Callable[[], tuple[bool, dict[str, Any]]]


class HealthCache:
    """Calls ``compute`` at most once per ``ttl`` seconds; concurrent callers share a result."""

    def __init__(self, compute: Snapshot, ttl: float = 1.0) -> None:
        self.compute, self.ttl = compute, ttl
        self._lock = threading.Lock()
        self._at = -1e9
        self._value: tuple[bool, dict[str, Any]] = (False, {})

    def get(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl:
                self._value = self.compute()
                self._at = time.monotonic()
            return self._value


class StatusServer:
    """Serves the two endpoints in a daemon thread. ``port`` 0 picks a free port."""

    def __init__(self, host: str, port: int, health: HealthCache,
                 render_metrics: Callable[[], bytes]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/healthz":
                        ok, body = outer.health.get()
                        self._send(200 if ok else 503, "application/json",
                                   json.dumps(body, default=str).encode())
                    elif path == "/metrics":
                        outer.health.get()  # refreshes the database gauges
                        self._send(200, CONTENT_TYPE_LATEST, outer.render_metrics())
                    else:
                        self._send(404, "text/plain", b"not found: try /healthz or /metrics\n")
                except Exception:  # a bug here must not kill the server thread
                    log.exception("status request failed", extra={"path": path})
                    self._send(500, "text/plain", b"internal error\n")

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the event log

        self.health, self.render_metrics = health, render_metrics
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.5}, name="status-server", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
