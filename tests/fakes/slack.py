"""A real HTTP server on loopback that answers like Slack: incoming webhooks and the Web API.

Serves ``POST /services/T.../B.../<secret>`` (an incoming webhook), ``/api/chat.postMessage``,
``/api/files.getUploadURLExternal``, the upload URL it hands out, and
``/api/files.completeUploadExternal``. Failures are scripted: ``fail_next(Reply(429, ...))``
answers the next requests with those replies before behaving again; ``delay`` makes every answer
slow. Everything received is recorded so tests can read what Slack would have shown.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

WEBHOOK_SECRET = "XyZsecretWebhookPart0123456789"
BOT_TOKEN = "xoxb-0000-test-bot-token-secret"
CHANNEL_ID = "C0DRIFT42"


@dataclass
class Reply:
    status: int
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        if self.headers.get("Content-Type", "").startswith("application/json"):
            return json.loads(self.body)
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class FakeSlack(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.messages: list[dict[str, Any]] = []  # posts Slack accepted (webhook or API)
        self.uploads: list[bytes] = []
        self.completed: list[dict[str, Any]] = []
        self.script: deque[Reply] = deque()
        self.delay = 0.0
        self._thread: threading.Thread | None = None

    # --- set-up ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/services/T0000/B0000/{WEBHOOK_SECRET}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base}/api/"

    def fail_next(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def start(self) -> FakeSlack:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    # --- what was received ----------------------------------------------------------------

    def posts(self, path_part: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path_part in r.path]


class _Handler(BaseHTTPRequestHandler):
    server: FakeSlack
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else (
            json.dumps(body) if isinstance(body, dict) else str(body)).encode()
        self.send_response(status)
        ctype = "application/json" if isinstance(body, dict) else "text/plain"
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        req = Received(self.path, dict(self.headers.items()), body)
        srv = self.server
        with srv.lock:
            srv.received.append(req)
            scripted = srv.script.popleft() if srv.script else None
        delay = scripted.delay if scripted else srv.delay
        if delay:
            time.sleep(delay)
        if scripted is not None:
            self._answer(scripted.status, scripted.body, scripted.headers)
            return
        self._route(req)

    def _route(self, req: Received) -> None:
        srv = self.server
        path = req.path
        if path.startswith("/services/"):
            if path.endswith(WEBHOOK_SECRET):
                with srv.lock:
                    srv.messages.append(req.json())
                self._answer(200, "ok")
            else:
                self._answer(404, "no_service")
            return
        if path.startswith("/upload/"):
            with srv.lock:
                srv.uploads.append(req.body)
            self._answer(200, f"OK - {len(req.body)}")
            return
        if req.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            self._answer(200, {"ok": False, "error": "invalid_auth"})
            return
        data = req.json()
        if path == "/api/chat.postMessage":
            if data.get("channel") not in ("#drift", CHANNEL_ID):
                self._answer(200, {"ok": False, "error": "channel_not_found"})
                return
            with srv.lock:
                srv.messages.append(data)
                ts = f"1700000000.{len(srv.messages):06d}"
            self._answer(200, {"ok": True, "channel": CHANNEL_ID, "ts": ts,
                               "message": {"text": data.get("text")}})
        elif path == "/api/files.getUploadURLExternal":
            self._answer(200, {"ok": True, "file_id": "F0CHART",
                               "upload_url": f"{srv.base}/upload/F0CHART"})
        elif path == "/api/files.completeUploadExternal":
            with srv.lock:
                srv.completed.append(data)
            self._answer(200, {"ok": True, "files": [{"id": "F0CHART", "title": "chart"}]})
        else:
            self._answer(404, {"ok": False, "error": "unknown_method"})
