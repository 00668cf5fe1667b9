"""Fixtures for alerting: a fake Slack on loopback, a store on SQLite and PostgreSQL, configs,
a controllable clock, and checks built from findings (so incident rules are tested directly)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drift_monitor.alerting.incidents import Decision, check_saver
from drift_monitor.app.stored import finding_row as _finding_row
from drift_monitor.config import Config, load_config
from drift_monitor.detection.findings import Finding
from drift_monitor.detection.result import CheckResult
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from tests.fakes.slack import BOT_TOKEN, FakeSlack

CONFIG = """\
targets:
  - name: support-bot
    provider: replay
    model: gpt-3.5-turbo
    suites: [coding]
    params: {{recording: "builtin:llmdrift-gpt35"}}
notify:
{notify}
"""
WEBHOOK = "  slack: {webhook_url_env: TEST_SLACK_WEBHOOK}\n"
API = ("  slack: {{bot_token_env: TEST_SLACK_TOKEN, channel: '{channel}', "
       "api_base_url: '{url}'}}\n")


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def make_config(tmp_path: Path, notify: str = "", extra: str = "  repeat_interval: 4h\n",
                ) -> Config:
    path = tmp_path / "drift-monitor.yaml"
    path.write_text(CONFIG.format(notify=notify + extra))
    return load_config(path)


@pytest.fixture
def webhook_config(tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.webhook_url)
    return make_config(tmp_path, WEBHOOK)


@pytest.fixture
def api_config(tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_SLACK_TOKEN", BOT_TOKEN)
    return make_config(tmp_path, API.format(channel="#drift", url=slack.api_base_url))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated database, on SQLite and on PostgreSQL."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite database, for tests about transports rather than storage."""
    engine = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    ensure_schema(engine)
    yield Store(engine)
    engine.dispose()


def finding(dimension: str = "formatting", metric: str = "code_fence_rate",
            severity: str = "critical", confirmed: bool = True, suite: str = "coding",
            direction: int = 1, examples: list[dict[str, str]] | None = None,
            **kw: Any) -> Finding:
    kw.setdefault("drifted_probes", ("coding/two-sum@abc", "coding/fizzbuzz@def"))
    return Finding(dimension=dimension, metric=metric, probe=None, baseline=0.02,
                   current=0.81, effect=0.79, p_value=1e-9, q_value=4e-8, severity=severity,
                   summary=f"{metric} moved in suite {suite}", direction=direction,
                   confirmed=confirmed, confirmed_by="confirmation_round" if confirmed else None,
                   suite=suite,
                   examples=examples if examples is not None else [
                       {"probe": "coding/two-sum@abc", "before": "class Solution: ...",
                        "after": "```python\nclass Solution: ..."}], **kw)


def record_check(config: Config, store: Store, findings: list[Finding], clock: Clock, *,
                 notify: bool = True, target: str = "support-bot",
                 model_string_changed: bool = False) -> list[Decision]:
    """Store a check with these findings the way `check` does; returns the decisions."""
    tid = store.upsert_target(target, "replay", "gpt-3.5-turbo")
    result = CheckResult(target=target, baseline_id=None, baseline_runs=[1, 2, 3],
                         baseline_responses=150, window_runs=[4], window_responses=50,
                         findings=findings, model_string_changed=model_string_changed,
                         drift=any(f.confirmed for f in findings))
    row = {"target_id": tid, "baseline_id": None, "status": "drift" if result.drift else "ok",
           "drift": result.drift, "window_run_ids": [4], "baseline_run_ids": [1, 2, 3],
           "baseline_responses": 150, "window_responses": 50, "confirmation_run_id": None,
           "model_string_changed": model_string_changed, "tests_run": 10, "notes": []}
    decisions: list[Decision] = []
    save = check_saver(config, store, notify=notify, now=clock, decisions=decisions)
    save(row, [_finding_row(f) for f in findings], result)
    return decisions


def db_dump(store: Store) -> str:
    """Every row of every table as text, to search for secrets."""
    from sqlalchemy import MetaData, select

    rows = []
    meta = MetaData()
    meta.reflect(store.engine)
    with store.engine.connect() as conn:
        for table in meta.sorted_tables:
            rows += [repr(tuple(r)) for r in conn.execute(select(table))]
    return "\n".join(rows)


def free_port() -> int:
    """A loopback port nobody listens on (refused connections)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
