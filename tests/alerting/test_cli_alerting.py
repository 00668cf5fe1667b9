"""`check`, `notify` and `baseline accept` end to end: the recorded GPT-3.5 silent update is
detected, queued, and posted to a loopback Slack exactly once, outage or not."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drift_monitor.cli import main
from tests.fakes.slack import FakeSlack, Reply

CONFIG = """\
targets:
  - name: gpt35
    provider: replay
    model: gpt-3.5-turbo
    suites: [gpt35-coding]
    samples: 1
    params: {{recording: "builtin:llmdrift-gpt35", snapshot: "{snapshot}"}}
baseline: {{min_runs: 3}}
detection: {{window_runs: 1, confirm: true}}
notify:
  slack: {{webhook_url_env: E2E_SLACK_WEBHOOK}}
  repeat_interval: 4h
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: FakeSlack) -> Path:
    monkeypatch.delenv("DRIFT_MONITOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("DRIFT_MONITOR_CONFIG", raising=False)
    monkeypatch.setenv("E2E_SLACK_WEBHOOK", slack.webhook_url)
    assert CliRunner().invoke(main, ["init", str(tmp_path)]).exit_code == 0
    return tmp_path


def configure(project: Path, snapshot: str) -> None:
    (project / "drift-monitor.yaml").write_text(CONFIG.format(snapshot=snapshot))


def cli(project: Path, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["--config", str(project / "drift-monitor.yaml"), *args])
    return r.exit_code, r.output


def silent_update(project: Path) -> None:
    configure(project, "2023-03")
    for _ in range(3):
        assert cli(project, "probe")[0] == 0
    configure(project, "2023-06")  # same model name, June's behaviour
    assert cli(project, "probe")[0] == 0


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_check_then_notify_posts_exactly_one_alert_after_an_outage(
        db_url: str, project: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_MONITOR_DATABASE_URL", db_url)
    silent_update(project)
    code, out = cli(project, "check")
    assert code == 1, out
    assert "(formatting): open, first_notification, notification queued" in out
    assert "run 'drift-monitor notify'" in out

    slack.fail_next(*[Reply(500, "rollup_error")] * 3)  # Slack is down
    code, out = cli(project, "notify")
    assert code == 1 and "will retry after" in out and "HTTP 500" in out
    assert slack.messages == []

    code, out = cli(project, "notify")  # Slack is back
    assert code == 0, out
    assert "delivered: alert (first_notification) for gpt35 via slack" in out
    (alert,) = slack.messages
    assert alert["blocks"][0]["text"]["text"] == \
        ":rotating_light: Drift on gpt35: answers, formatting (new)"
    assert "this is a silent update" in alert["text"]

    assert cli(project, "notify") == (0, "0 delivered now; 0 pending; 0 failed permanently in "
                                         "total\n")
    assert cli(project, "probe")[0] == 0  # a new window: still drifting
    code, out = cli(project, "check")  # well within repeat_interval
    assert code == 1 and "already_notified" in out and "queued" not in out
    assert cli(project, "notify")[0] == 0 and len(slack.messages) == 1


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_no_notify_queues_nothing_and_accept_announces_the_closing(
        project: Path, slack: FakeSlack) -> None:
    silent_update(project)
    code, out = cli(project, "check", "--no-notify")
    assert code == 1 and "notify_disabled" in out
    assert cli(project, "notify")[0] == 0 and slack.messages == []
    assert cli(project, "probe")[0] == 0  # the same window is never checked twice
    code, out = cli(project, "check")
    assert "first_notification, notification queued" in out
    assert cli(project, "notify")[0] == 0 and len(slack.messages) == 1
    code, out = cli(project, "baseline", "accept", "--target", "gpt35")
    assert code == 0 and "(formatting) closed as accepted (notification queued" in out
    assert cli(project, "notify")[0] == 0
    accepted = slack.messages[-1]["blocks"][0]["text"]["text"]
    assert accepted == ":ballot_box_with_check: Accepted on gpt35: answers, formatting"


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_notify_with_the_webhook_env_unset_exits_2_naming_it(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    silent_update(project)
    assert cli(project, "check")[0] == 1
    monkeypatch.delenv("E2E_SLACK_WEBHOOK")
    code, out = cli(project, "notify")
    assert code == 2 and "E2E_SLACK_WEBHOOK is not set" in out and "notify.slack" in out


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_permanent_failures_stay_visible_in_later_notify_runs(
        project: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    silent_update(project)
    assert cli(project, "check")[0] == 1
    monkeypatch.setenv("E2E_SLACK_WEBHOOK", slack.webhook_url + "-revoked")
    code, out = cli(project, "notify")
    # a permanent failure is not a delivery: exit 1 (issue 13, finding 9)
    assert code == 1 and "failed permanently: alert (first_notification)" in out
    assert "no_service" in out
    code, out = cli(project, "notify")
    assert code == 0  # nothing new failed; the old failure stays listed
    assert "1 failed permanently in total" in out
    assert "via slack: slack: permanent failure (HTTP 404)" in out
    assert slack.messages == []
