"""With server.public_url set, alerts and digests link to the console's incident and target
pages (one click from Slack to the evidence); without it, nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

from drift_monitor.alerting.channels.slack.blocks import alert_blocks, closed_blocks, digest_blocks
from drift_monitor.alerting.render import render_payload
from drift_monitor.app.digest import build_digest
from drift_monitor.config import Config, load_config
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import Clock, finding, make_config, record_check

BASE = "https://drift.example.internal/console"


def with_public_url(tmp_path: Path) -> Config:
    config = make_config(tmp_path)
    config.path.write_text(config.path.read_text()
                           + f"server: {{public_url: '{BASE}/'}}\n")
    return load_config(config.path)


def test_alert_links_to_its_incident_and_target(tmp_path: Path, store: Store,
                                                clock: Clock) -> None:
    config = with_public_url(tmp_path)
    record_check(config, store, [finding()], clock)
    (n,) = store.notifications(status="pending")
    (incident,) = store.incidents()
    url = f"{BASE}/incidents/{incident.id}"
    assert n.payload["links"] == {"target": f"{BASE}/targets/support-bot",
                                     "incidents": {str(incident.id): url},
                                     "interactive": False}
    blocks = json.dumps(alert_blocks(n.payload))
    assert f"<{url}|Incident #{incident.id} in the console>" in blocks
    assert f"<{BASE}/targets/support-bot|support-bot history>" in blocks
    assert url in render_payload(n.payload)


def test_resolution_links_too(tmp_path: Path, store: Store, clock: Clock) -> None:
    config = with_public_url(tmp_path)
    record_check(config, store, [finding()], clock)
    clock.advance(hours=1)
    record_check(config, store, [], clock)
    resolved = next(n for n in store.notifications() if n.kind == "resolved")
    assert f"{BASE}/incidents/" in json.dumps(closed_blocks(resolved.payload))


def test_digest_links_to_the_console(tmp_path: Path, store: Store, clock: Clock) -> None:
    config = with_public_url(tmp_path)
    record_check(config, store, [finding()], clock)
    payload = build_digest(config, store, now=clock)
    assert payload["links"]["digest"] == f"{BASE}/digest?days=7"
    assert payload["links"]["targets"] == {"support-bot": f"{BASE}/targets/support-bot"}
    blocks = json.dumps(digest_blocks(payload))
    assert f"<{BASE}/digest?days=7|Digest with charts>" in blocks
    assert f"<{BASE}/targets/support-bot|support-bot>" in blocks


def test_without_public_url_no_links(tmp_path: Path, store: Store, clock: Clock) -> None:
    config = make_config(tmp_path)
    record_check(config, store, [finding()], clock)
    (n,) = store.notifications(status="pending")
    assert "links" not in n.payload
    assert "in the console" not in json.dumps(alert_blocks(n.payload))
    assert "links" not in build_digest(config, store, now=clock)
