"""``POST /slack/actions``: the "Silence 4h" and "Acknowledge" buttons of a Slack alert.

Only when ``notify.slack.signing_secret_env`` names the Slack app's signing secret (and the
alert links to the console, ``server.public_url``, which Slack's request URL must point at).
Every request is verified with slack-sdk's ``SignatureVerifier``: a bad signature, a timestamp
more than five minutes off, or a request already seen (the same timestamp and signature: a
replay) is refused with 401 and changes nothing. The actor stored is ``slack:<user name>``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from drift_monitor.alerting.links import ACK, SILENCE_4H
from drift_monitor.errors import ConfigError, OperationError

MAX_BODY = 64 * 1024  # an interaction payload is a few kilobytes
REPLAY_WINDOW_S = 5 * 60  # SignatureVerifier's own tolerance


class ReplayGuard:
    """Remembers the signatures of the last five minutes; a second one is a replay."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature: str) -> bool:
        now = time.monotonic()
        with self._lock:
            for key, at in list(self._seen.items()):
                if now - at > REPLAY_WINDOW_S:
                    del self._seen[key]
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True


def handler(config: Any, store: Any, secret: str, now: Callable[[], datetime],
            clock: Any = None) -> Callable[[Request], Any]:
    """The endpoint; ``clock`` (an object with ``now()`` in epoch seconds) is for tests."""
    from slack_sdk.signature import Clock, SignatureVerifier

    verifier = SignatureVerifier(secret, clock=clock or Clock())
    replays = ReplayGuard()

    async def slack_actions(request: Request) -> Response:
        from drift_monitor.alerting.operations import ack_incident, add_silence

        body = await request.body()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        try:
            valid = len(body) <= MAX_BODY and verifier.is_valid(body, timestamp, signature)
        except ValueError:  # a timestamp that is not a number
            valid = False
        if not valid or not replays.first_time(signature):
            return PlainTextResponse("invalid or replayed Slack signature\n", status_code=401)
        try:
            payload = json.loads(parse_qs(body.decode())["payload"][0])
            action = payload["actions"][0]
            incident_id = int(action["value"])
            user = payload.get("user") or {}
        except (KeyError, IndexError, ValueError, TypeError):
            return PlainTextResponse("not a block action\n", status_code=400)
        actor = "slack:" + str(user.get("username") or user.get("name") or user.get("id")
                               or "unknown")[:90]
        try:
            incident = store.incident(incident_id)
            if incident is None:
                raise OperationError(f"there is no incident {incident_id}")
            kind = str(action.get("action_id", "")).split(":", 1)[0]
            if kind == ACK:
                ack_incident(store, incident_id, actor=actor, now=now(),
                             note="acknowledged from Slack")
                text = f"Incident #{incident_id} acknowledged by {actor}: no repeats until it " \
                       "changes."
            elif kind == SILENCE_4H:
                s = add_silence(config, store, target=str(incident.target),
                                dimension=incident.dimension, actor=actor, now=now(),
                                reason=f"silenced from Slack (incident #{incident_id})",
                                for_="4h")
                text = (f"{incident.target}/{incident.dimension} silenced until "
                        f"{s.ends_at:%Y-%m-%d %H:%M} UTC by {actor} (silence {s.id}).")
            else:
                return PlainTextResponse("unknown action\n", status_code=400)
        except (OperationError, ConfigError) as exc:
            text = f"Not done: {exc}"
        return JSONResponse({"response_type": "ephemeral", "replace_original": False,
                             "text": text})

    return slack_actions
