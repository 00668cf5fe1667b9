"""A channel that fails permanently shows in the running daemon's /healthz and /metrics, per
channel, next to the ones that work; its secret stays out of the daemon's log."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.conftest import write_project
from tests.fakes.receivers import FakePagerDuty

# daemon processes on loopback: seconds each (`pytest -m "not slow"` leaves them out)
pytestmark = pytest.mark.slow

REVOKED_KEY = "revokedRoutingKey0123456789abcde"


def test_a_pagerduty_key_that_stopped_working_shows_in_health_and_metrics(
        tmp_path: Path, daemons, store_for) -> None:  # type: ignore[no-untyped-def]
    from drift_monitor.app.digest import build_digest, queue_digest
    from drift_monitor.config import load_config
    from drift_monitor.storage.engine import ensure_schema

    pagerduty = FakePagerDuty().start()  # knows another key: every event is refused (400)
    try:
        url = f"sqlite:///{tmp_path / 'dm.db'}"
        config_path = write_project(tmp_path, url, schedule="every 1h", extra=(
            "notify:\n"
            f"  pagerduty: {{routing_key_env: TEST_PD_KEY, api_base_url: "
            f"'{pagerduty.api_base_url}'}}\n"
            "digest: {channel: console}\n"))
        store = store_for(url)
        ensure_schema(store.engine)
        tid = store.upsert_target("alpha", "replay", "m-1")
        store.enqueue_notification({
            "dedup_key": "alert/test/pagerduty", "channel": "pagerduty", "kind": "alert",
            "reason": "first_notification", "target_id": tid, "payload": {
                "kind": "alert", "reason": "first_notification", "target": "alpha",
                "severity": "critical", "dimensions": ["formatting"],
                "incidents": [{"incident_id": 1, "dimension": "formatting",
                               "severity": "critical", "reason": "first_notification",
                               "findings": []}]},
            "status": "pending", "attempts": 0, "created_at": datetime.now(UTC),
            "next_attempt_at": datetime.now(UTC)})
        config = load_config(config_path)
        queue_digest(config, store, build_digest(config, store))
        d = daemons(config_path, env={"TEST_PD_KEY": REVOKED_KEY})
        d.wait_event("scheduler started", timeout=40)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            counts = store.notification_counts()
            if counts.get("pending", 0) == 0:
                break
            time.sleep(0.2)
        status, body = d.get("/healthz")
        health = json.loads(body)
        assert health["channels"]["pagerduty"] == {"failed": 1}
        assert health["channels"]["console"] == {"delivered": 1}
        _, metrics = d.get("/metrics")
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(metrics.decode())
                   for s in f.samples}
        assert samples[("drift_monitor_channel_notifications",
                        (("channel", "pagerduty"), ("status", "failed")))] == 1
        assert samples[("drift_monitor_channel_notifications",
                        (("channel", "console"), ("status", "delivered")))] == 1
        (failed,) = store.notifications(status="failed")
        assert "'routing_key' is invalid" in failed.last_error
        d.stop()
        assert REVOKED_KEY not in d.log_path.read_text()
        assert len(pagerduty.received) == 1
    finally:
        pagerduty.stop()
