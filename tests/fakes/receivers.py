"""Loopback receivers for the webhook and PagerDuty channels: real HTTP (aiohttp.web on its own
event loop in a background thread), each speaking its real protocol, with scripted faults.

- :class:`WebhookReceiver` verifies every request the Standard Webhooks way, independently of
  the channel's code (its own HMAC, a timestamp tolerance, the ``whsec_`` key decoding), answers
  401 to a bad signature, and records what it verified.
- :class:`FakePagerDuty` is the Events API v2: ``POST /v2/enqueue``, 202 ``{"status":
  "success", "dedup_key": ...}`` for a valid event, 400 ``invalid event`` with the errors
  PagerDuty lists for a malformed one or an unknown routing key; it keeps the incidents the
  events opened and resolved, by dedup key.

``fail_next(Fault(429, ...), ...)`` answers the next requests with those replies first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.aio import ThreadedAioServer

PD_ROUTING_KEY = "R0UT1NGKEYs3cr3t0123456789abcdef"  # 32 characters, like PagerDuty's
WEBHOOK_SECRET_RAW = b"drift-webhook-test-key-\x00\x01\x02secret"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(WEBHOOK_SECRET_RAW).decode()
TOLERANCE_S = 300  # Standard Webhooks' recommended replay window


@dataclass
class Fault:
    status: int
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadedAioServer):
    """aiohttp.web on 127.0.0.1, an ephemeral port, its own loop and thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.received: list[Request] = []
        self.script: deque[Fault] = deque()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, *faults: Fault) -> None:
        with self.lock:
            self.script.extend(faults)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        req = Request(request.path_qs, dict(request.headers.items()), await request.read())
        with self.lock:
            self.received.append(req)
            fault = self.script.popleft() if self.script else None
        if fault is not None:
            body = fault.body
            if isinstance(body, dict):
                return web.json_response(body, status=fault.status, headers=fault.headers)
            return web.Response(status=fault.status, text=str(body), headers=fault.headers)
        return self.answer(request, req)

    def answer(self, request: web.Request, req: Request) -> web.StreamResponse:
        raise NotImplementedError


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes,
                            now: float | None = None) -> str | None:
    """None when the request is signed by ``secret`` and fresh; else why not."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = (lower.get("webhook-id"), lower.get("webhook-timestamp"),
                        lower.get("webhook-signature"))
    if not (msg_id and ts and sigs):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if abs((now or time.time()) - int(ts)) > TOLERANCE_S:
        return "timestamp outside the tolerance"
    key = (base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_")
           else secret.encode())
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    for sig in sigs.split():
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return None
    return "no signature matches"


class WebhookReceiver(_Server):
    """Accepts ``POST /hooks/drift`` when its signature verifies; 401 otherwise."""

    PATH = "/hooks/drift"

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.verified: list[Request] = []
        self.rejected: list[tuple[Request, str]] = []

    @property
    def url(self) -> str:
        return f"{self.base}{self.PATH}"

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.json() for r in self.verified]

    def answer(self, request: web.Request, req: Request) -> web.StreamResponse:
        if request.path != self.PATH or request.method != "POST":
            return web.Response(status=404, text="no such hook")
        problem = verify_standard_webhook(self.secret, req.headers, req.body)
        with self.lock:
            if problem:
                self.rejected.append((req, problem))
            else:
                self.verified.append(req)
        if problem:
            return web.Response(status=401, text=f"signature rejected: {problem}")
        return web.Response(status=204)


PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")


def pd_event_errors(event: Any, routing_keys: set[str]) -> list[str]:
    """The errors PagerDuty's Events API v2 lists for an event, or [] when it is valid."""
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    if event.get("routing_key") not in routing_keys:
        errors.append("'routing_key' is invalid")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is missing or blank")
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not key:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary:
            errors.append("'payload.summary' is missing or blank")
        elif len(summary) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be one of critical, error, "
                          "warning, info)")
    return errors


class FakePagerDuty(_Server):
    """The Events API v2 on loopback; ``incidents`` maps dedup key to its state."""

    def __init__(self, routing_key: str = PD_ROUTING_KEY) -> None:
        super().__init__()
        self.routing_keys = {routing_key}
        self.events: list[dict[str, Any]] = []  # accepted events, in order
        self.incidents: dict[str, dict[str, Any]] = {}

    @property
    def api_base_url(self) -> str:
        return self.base

    def answer(self, request: web.Request, req: Request) -> web.StreamResponse:
        if request.path != "/v2/enqueue" or request.method != "POST":
            return web.json_response({"status": "error", "message": "Not found"}, status=404)
        try:
            event = req.json()
        except ValueError:
            return web.json_response({"status": "invalid event", "message": "Event object is "
                                      "invalid", "errors": ["Malformed JSON"]}, status=400)
        errors = pd_event_errors(event, self.routing_keys)
        if errors:
            return web.json_response({"status": "invalid event",
                                      "message": "Event object is invalid", "errors": errors},
                                     status=400)
        with self.lock:
            key = event.get("dedup_key") or f"pd-{len(self.events) + 1}"
            self.events.append(event)
            incident = self.incidents.get(key)
            if event["event_action"] == "trigger":
                if incident is None or incident["status"] == "resolved":
                    incident = self.incidents[key] = {"status": "triggered", "alerts": 0,
                                                      "summary": ""}
                incident["alerts"] += 1
                incident["summary"] = event["payload"]["summary"]
                incident["severity"] = event["payload"]["severity"]
            elif incident is not None:  # PagerDuty ignores a resolve of an unknown key
                incident["status"] = ("resolved" if event["event_action"] == "resolve"
                                      else "acknowledged")
        return web.json_response({"status": "success", "message": "Event processed",
                                  "dedup_key": key}, status=202)
