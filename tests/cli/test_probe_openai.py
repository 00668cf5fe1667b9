"""``probe`` against an OpenAI-compatible server: a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from drift_monitor.cli import main
from drift_monitor.storage.tables import Response

API_KEY = "sk-test-loopback-0123456789abcdef"


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChatHandler)
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class ChatHandler(BaseHTTPRequestHandler):
    server: ChatServer

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append({"path": self.path, "auth": self.headers.get(
                "Authorization"), "body": body})
            n = len(self.server.requests)
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        prompt = body["messages"][-1]["content"]
        payload = {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": 1700000000,
            "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_loop_42",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"echo: {prompt}"}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-request-id", f"req_{n}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_probe_stores_what_the_server_returned(chat_server: ChatServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFT_MONITOR_DATABASE_URL", raising=False)
    monkeypatch.setenv("LOOPBACK_KEY", API_KEY)
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "basics.yaml").write_text(
        "suite: basics\nprobes:\n"
        "  - id: hello\n    system: Be brief.\n    prompt: Say hello.\n"
        "  - id: sum\n    prompt: What is 2+2?\n")
    (tmp_path / "drift-monitor.yaml").write_text(f"""
targets:
  - name: local
    provider: openai
    model: gpt-4o
    base_url: {chat_server.base_url}
    api_key_env: LOOPBACK_KEY
    suites: [basics]
    samples: 2
    params: {{temperature: 0, max_tokens: 50, seed: 7}}
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
""")
    r = CliRunner().invoke(main, ["--config", str(tmp_path / "drift-monitor.yaml"), "probe"])
    assert r.exit_code == 0, r.output
    assert "run 1 complete: 4 ok, 0 failed" in r.output

    assert len(chat_server.requests) == 4
    req = chat_server.requests[0]
    assert req["auth"] == f"Bearer {API_KEY}"
    assert req["body"]["model"] == "gpt-4o"
    assert req["body"]["temperature"] == 0 and req["body"]["seed"] == 7
    hello = [q for q in chat_server.requests if q["body"]["messages"][-1]["content"]
             == "Say hello."][0]
    assert hello["body"]["messages"][0] == {"role": "system", "content": "Be brief."}

    engine = create_engine(f"sqlite:///{tmp_path / 'drift-monitor.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(Response).order_by(Response.id)).all()
    engine.dispose()
    assert len(rows) == 4
    texts = sorted(r.text for r in rows)
    assert texts == ["echo: Say hello.", "echo: Say hello.", "echo: What is 2+2?",
                     "echo: What is 2+2?"]
    for row in rows:
        assert row.ok and row.error_kind is None
        assert (row.input_tokens, row.output_tokens) == (11, 7)
        assert row.model_returned == "gpt-4o-2024-08-06"
        assert row.fingerprint == "fp_loop_42"
        assert row.finish_reason == "stop"
        assert row.request_id.startswith("req_")
        assert row.http_status == 200
        assert row.latency_ms is not None and 0 < row.latency_ms < 5000
        assert row.cost_usd == pytest.approx((11 * 2.5 + 7 * 10) / 1e6)
    assert {(r.sample_index) for r in rows} == {0, 1}
    # the key never reaches the database
    raw = (tmp_path / "drift-monitor.db").read_bytes()
    assert API_KEY.encode() not in raw


def test_every_call_failing_exits_1_and_stores_failures(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFT_MONITOR_DATABASE_URL", raising=False)
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "basics.yaml").write_text(
        "suite: basics\nprobes:\n  - id: hello\n    prompt: Say hello.\n")
    # nothing listens on port 1: connection refused, retried, then stored as a failure
    (tmp_path / "drift-monitor.yaml").write_text("""
targets:
  - name: down
    provider: openai
    model: gpt-4o
    base_url: http://127.0.0.1:1/v1
    suites: [basics]
    samples: 2
    limits: {max_attempts: 2, timeout_s: 5}
""")
    r = CliRunner().invoke(main, ["--config", str(tmp_path / "drift-monitor.yaml"), "probe"])
    assert r.exit_code == 1, r.output
    assert "run 1 failed: 0 ok, 2 failed (connection 2)" in r.output
    engine = create_engine(f"sqlite:///{tmp_path / 'drift-monitor.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(Response)).all()
    engine.dispose()
    assert [(r.ok, r.error_kind, r.attempts) for r in rows] == [(False, "connection", 2)] * 2
    assert all(r.text is None for r in rows)
