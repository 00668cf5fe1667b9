"""The alert's Slack buttons: "Silence 4h" and "Acknowledge", posted by Slack to
/slack/actions and verified with slack-sdk's SignatureVerifier (bad signatures, stale
timestamps and replays refused, nothing changed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier
from starlette.testclient import TestClient

from drift_monitor.alerting.channels.slack.blocks import alert_blocks
from drift_monitor.config import Config, load_config
from drift_monitor.storage.queries import Store
from drift_monitor.web.app import create_app
from tests.alerting.conftest import Clock, finding, record_check

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack_config(config: Config, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", "https://hooks.slack.test/services/T/B/X")
    monkeypatch.setenv("TEST_SLACK_SIGNING", SECRET)
    text = config.path.read_text().replace(
        "notify:\n", "notify:\n  slack: {webhook_url_env: TEST_SLACK_WEBHOOK, "
        "signing_secret_env: TEST_SLACK_SIGNING}\n")
    config.path.write_text(text + "server: {public_url: 'https://drift.example.internal'}\n")
    return load_config(config.path)


@pytest.fixture
def incident(slack_config: Config, store: Store, clock: Clock) -> int:
    record_check(slack_config, store, [finding()], clock)
    return int(store.incidents()[0].id)


def signed(body: str, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    ts = str(at if at is not None else int(time.time()))
    sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert sig is not None
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded"}


def click(action_id: str, incident_id: int, user: str = "alice") -> str:
    payload = {"type": "block_actions", "user": {"id": "U1", "username": user},
               "actions": [{"action_id": f"{action_id}:{incident_id}",
                            "value": str(incident_id)}]}
    return urlencode({"payload": json.dumps(payload)})


def client(config: Config, store: Store, clock: Clock) -> TestClient:
    return TestClient(create_app(config, store, actions=True, token=None, now=clock),
                      base_url="http://127.0.0.1")


def test_alerts_carry_the_buttons(slack_config: Config, store: Store, incident: int) -> None:
    (n,) = store.notifications(status="pending")
    actions = [b for b in alert_blocks(n.payload) if b["type"] == "actions"]
    (block,) = actions
    assert [e["text"]["text"] for e in block["elements"]] == ["Silence 4h", "Acknowledge"]
    assert {e["value"] for e in block["elements"]} == {str(incident)}


def test_acknowledge_button(slack_config: Config, store: Store, clock: Clock,
                            incident: int) -> None:
    body = click("drift_ack", incident)
    r = client(slack_config, store, clock).post("/slack/actions", content=body,
                                                headers=signed(body))
    assert r.status_code == 200 and "acknowledged by slack:alice" in r.json()["text"]
    assert store.incident(incident).acked_by == "slack:alice"


def test_silence_button(slack_config: Config, store: Store, clock: Clock,
                        incident: int) -> None:
    body = click("drift_silence_4h", incident, user="bob")
    r = client(slack_config, store, clock).post("/slack/actions", content=body,
                                                headers=signed(body))
    assert r.status_code == 200 and "silenced until" in r.json()["text"]
    (s,) = store.silences(now=clock())
    assert s.created_by == "slack:bob" and s.dimension == "formatting"
    assert (s.ends_at - s.starts_at).total_seconds() == 4 * 3600


def test_bad_signatures_stale_timestamps_and_replays_are_refused(
        slack_config: Config, store: Store, clock: Clock, incident: int) -> None:
    c = client(slack_config, store, clock)
    body = click("drift_ack", incident)
    assert c.post("/slack/actions", content=body,
                  headers=signed(body, secret="not-the-secret")).status_code == 401
    assert c.post("/slack/actions", content=body,
                  headers=signed(body, at=int(time.time()) - 600)).status_code == 401
    assert c.post("/slack/actions", content=body,
                  headers={**signed(body), "X-Slack-Request-Timestamp": "soon"}
                  ).status_code == 401
    tampered = click("drift_silence_4h", incident)
    assert c.post("/slack/actions", content=tampered, headers=signed(body)).status_code == 401
    assert store.operator_actions() == []
    headers = signed(body)
    assert c.post("/slack/actions", content=body, headers=headers).status_code == 200
    assert c.post("/slack/actions", content=body, headers=headers).status_code == 401  # replay
    assert len(store.operator_actions()) == 1


def test_a_refused_action_says_why(slack_config: Config, store: Store, clock: Clock,
                                   incident: int) -> None:
    body = click("drift_ack", 999)
    r = client(slack_config, store, clock).post("/slack/actions", content=body,
                                                headers=signed(body))
    assert r.status_code == 200 and "no incident 999" in r.json()["text"]


def test_without_a_signing_secret_there_is_no_endpoint_and_no_button(
        config: Config, store: Store, clock: Clock, tmp_path: Path) -> None:
    record_check(config, store, [finding()], clock)
    (n,) = store.notifications(status="pending")
    assert not [b for b in alert_blocks(n.payload) if b["type"] == "actions"]
    body = click("drift_ack", 1)
    assert client(config, store, clock).post("/slack/actions", content=body,
                                             headers=signed(body)).status_code == 404
