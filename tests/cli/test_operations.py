"""`targets`, `incidents list/show/ack`, `silence add/list/expire` and `--version` through the
CLI: output, JSON, actors, exit codes. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from drift_monitor import __version__
from drift_monitor.cli import main
from drift_monitor.config import Config
from drift_monitor.storage.engine import ensure_schema, make_engine
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import Clock, finding, make_config, record_check


@pytest.fixture
def setup(tmp_path: Path, db_url: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Config, Store]]:
    monkeypatch.setenv("DRIFT_MONITOR_DATABASE_URL", db_url)
    monkeypatch.setenv("USER", "ops-user")
    config = make_config(tmp_path)
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield config, Store(engine)
    engine.dispose()


def cli(config: Config, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--config", str(config.path), *args])
    return r.exit_code, r.output


def test_version() -> None:
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_incidents_list_show_and_ack(setup: tuple[Config, Store]) -> None:
    config, store = setup
    record_check(config, store, [finding()], Clock())
    code, out = cli(config, "incidents", "list", "--open")
    assert code == 0 and "#1 support-bot/formatting open critical" in out
    code, out = cli(config, "incidents", "list", "--json", "--target", "support-bot")
    (row,) = json.loads(out)["incidents"]
    assert row["id"] == 1 and row["status"] == "open" and row["acked_by"] is None
    code, out = cli(config, "incidents", "show", "1")
    assert code == 0 and "first_notification" in out and "baseline accept" in out
    code, out = cli(config, "incidents", "ack", "1", "--note", "on it")
    assert code == 0 and "acknowledged by ops-user" in out
    code, out = cli(config, "incidents", "ack", "1", "--json", "--as", "bob")
    assert code == 0 and json.loads(out)["incident"]["acked_by"] == "bob"
    code, out = cli(config, "incidents", "show", "1", "--json")
    shown = json.loads(out)
    assert shown["incident"]["acked_by"] == "bob"
    assert [a["actor"] for a in shown["actions"]] == ["bob", "ops-user"]
    assert shown["actions"][1]["note"] == "on it"
    assert shown["events"][0]["reason"] == "first_notification"
    assert shown["notifications"][0]["status"] == "pending"


def test_incident_refusals_exit_2(setup: tuple[Config, Store]) -> None:
    config, _ = setup
    code, out = cli(config, "incidents", "ack", "5")
    assert code == 2 and "no incident 5" in out
    code, out = cli(config, "incidents", "show", "5")
    assert code == 2
    code, out = cli(config, "incidents", "list", "--target", "ghost")
    assert code == 2 and "unknown target 'ghost'" in out


def test_silence_add_list_expire(setup: tuple[Config, Store]) -> None:
    config, store = setup
    code, out = cli(config, "silence", "add", "--target", "support-bot", "--dimension", "tone",
                    "--for", "4h", "--reason", "vendor incident", "--as", "alice")
    assert code == 0 and "silence 1: support-bot/tone, active" in out and "alice" in out
    code, out = cli(config, "silence", "list", "--json")
    (s,) = json.loads(out)["silences"]
    assert s["created_by"] == "alice" and s["reason"] == "vendor incident"
    code, out = cli(config, "silence", "expire", "1", "--json")
    assert code == 0 and json.loads(out)["silence"]["expired_at"] is not None
    assert store.silence(1).expired_by == "ops-user"  # $USER without --as
    code, out = cli(config, "silence", "list")
    assert "no silences in force" in out
    assert "silence 1" in cli(config, "silence", "list", "--all")[1]
    code, out = cli(config, "silence", "expire", "1")
    assert code == 2 and "already over" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--for", "4h"], "Missing option '--reason'"),
    (["--for", "4h", "--until", "2099-01-01", "--reason", "r"], "exactly one"),
    (["--for", "eventually", "--reason", "r"], "not a duration"),
    (["--for", "4h", "--reason", "r", "--dimension", "mood"], "unknown dimension"),
])
def test_silence_add_refusals_exit_2(setup: tuple[Config, Store], args: list[str],
                                     message: str) -> None:
    config, store = setup
    code, out = cli(config, "silence", "add", "--target", "support-bot", *args)
    assert code == 2 and message in out
    assert store.silences(now=Clock()(), active_only=False) == []


def test_targets_text_and_json(setup: tuple[Config, Store]) -> None:
    config, store = setup
    code, out = cli(config, "targets")
    assert code == 0 and "support-bot: STALE (no run yet)" in out
    record_check(config, store, [finding()], Clock())
    cli(config, "silence", "add", "--target", "support-bot", "--for", "1h", "--reason", "x")
    code, out = cli(config, "targets", "--json")
    (t,) = json.loads(out)["targets"]
    assert t["name"] == "support-bot" and t["state"] == "stale"  # no run recorded here
    assert t["open_incidents"][0]["dimension"] == "formatting"
    assert t["open_incidents"][0]["silenced_by"] == 1
    assert t["silences"][0]["reason"] == "x"


def test_who_pinned_a_baseline_is_stored_and_shown(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient

    from drift_monitor.config import load_config
    from drift_monitor.web.app import create_app
    from tests.web.seed import write_config

    monkeypatch.delenv("DRIFT_MONITOR_DATABASE_URL", raising=False)
    monkeypatch.setenv("USER", "ops-user")
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'b.db'}", "2023-03")
    for _ in range(2):
        assert cli(config, "probe", "--target", "quiet-bot")[0] == 0
    assert cli(config, "baseline", "set", "--target", "quiet-bot", "--runs", "1",
               "--as", "alice")[0] == 0
    assert cli(config, "baseline", "accept", "--target", "quiet-bot")[0] == 0
    engine = make_engine(config.database_url)
    store = Store(engine)
    actions = list(reversed(store.operator_actions(target="quiet-bot")))
    assert [(a.action, a.actor) for a in actions] == [("baseline_set", "alice"),
                                                            ("baseline_accept", "ops-user")]
    page = TestClient(create_app(load_config(config.path), store, actions=False, token=None),
                      base_url="http://127.0.0.1").get("/targets/quiet-bot").text
    assert "<td>alice</td>" in page and "<td>ops-user</td>" in page
    engine.dispose()
