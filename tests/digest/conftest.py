"""Fixtures for the digest: a config's own database seeded with ten hours of an hourly target,
and the fake Slack the digest is sent to (shared with tests/alerting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from drift_monitor.config import Config
from drift_monitor.probes import Probe
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from drift_monitor.storage.tables import Run
from tests.alerting.conftest import Clock, api_config, finding, record_check, slack

__all__ = ["api_config", "digest_store", "slack"]

PROBE = Probe(suite="coding", id="two-sum", messages=({"role": "user", "content": "hi"},),
              expect=None, samples=None, version="v1", file="coding.yaml")


def add_run(store: Store, tid: int, pv: int, hours_ago: float, responses: list[dict],
            trigger: str = "manual") -> None:
    run = store.create_run(tid, len(responses), trigger=trigger)
    store.insert_responses([{"run_id": run, "probe_version_id": pv, "sample_index": i, **r}
                            for i, r in enumerate(responses)])
    store.finish_run(run)
    with store.engine.begin() as conn:
        conn.execute(update(Run).where(Run.id == run).values(
            started_at=datetime.now(UTC) - timedelta(hours=hours_ago)))


def ok(latency: float, model: str = "gpt-4o-2024-05-13") -> dict:
    return {"ok": True, "text": "answer", "latency_ms": latency, "input_tokens": 10,
            "output_tokens": 20, "cost_usd": 0.01, "model_returned": model}


FAILED = {"ok": False, "error_kind": "server_error"}


def seed(config: Config, store: Store) -> None:
    """Ten hours of an hourly target: three scheduled runs (one failed) and a confirmation
    round; two checks, the first drifting in formatting, the second clean."""
    tid = store.upsert_target("support-bot", "replay", "gpt-3.5-turbo")
    pv = store.ensure_probe_versions([PROBE])[("coding", "two-sum", "v1")]
    add_run(store, tid, pv, 10, [ok(100), ok(200), ok(300), ok(400)])
    add_run(store, tid, pv, 5, [ok(500, "gpt-4o-2024-08-06"), ok(600, "gpt-4o-2024-08-06"),
                                ok(700, "gpt-4o-2024-08-06"), FAILED])
    add_run(store, tid, pv, 5, [ok(800, "gpt-4o-2024-08-06")], trigger="confirmation")
    add_run(store, tid, pv, 1, [FAILED, FAILED])
    clock = Clock()
    clock.t = datetime.now(UTC) - timedelta(hours=2)
    record_check(config, store, [finding()], clock)
    clock.advance(hours=1)
    record_check(config, store, [], clock)


@pytest.fixture
def digest_store(api_config: Config) -> Store:
    engine = make_engine(api_config.database_url)  # the config's own database, for the CLI
    ensure_schema(engine)
    store = Store(engine)
    seed(api_config, store)
    return store
