"""A permanently failed notification is no dead end (issue 14, finding 4): `notify retry ID`,
`notify retry --all-failed`, `notify drop ID`, `notify --json`, and the digest reports what
failed in its period; `digest --send` no longer says "already sent" for a digest that failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from drift_monitor.cli import main
from drift_monitor.storage.engine import make_engine
from drift_monitor.storage.queries import Store
from tests.fakes.slack import WEBHOOK_SECRET, FakeSlack

CONFIG = """\
database: {db}
targets:
  - name: bot
    provider: replay
    model: gpt-3.5-turbo
    suites: [gpt35-primes]
    params: {{recording: "builtin:llmdrift-gpt35"}}
notify:
  slack: {{webhook_url_env: OPS_SLACK_WEBHOOK}}
"""


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    import shutil

    from tests.conftest import REPO

    shutil.copytree(REPO / "drift_monitor" / "templates" / "probes", tmp_path / "probes")
    path = tmp_path / "drift-monitor.yaml"
    path.write_text(CONFIG.format(db=db_url))
    return path


def cli(config: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["--config", str(config), *args])
    return res.exit_code, res.output


def failed_ids(config: Path) -> list[int]:
    code, out = cli(config, "notify", "--json")
    return [n["id"] for n in json.loads(out)["failed"]]


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
def test_a_failed_digest_is_reported_then_retried_after_the_fix(
        project: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_SLACK_WEBHOOK", slack.webhook_url + "-revoked")
    code, out = cli(project, "digest", "--send")
    assert code == 1 and "failed permanently" in out, out
    # the second send of the same period used to say "already sent" and exit 0
    code, out = cli(project, "digest", "--send")
    assert code == 1 and "already sent" not in out
    assert "failed permanently via slack" in out and "notify retry" in out
    (nid,) = failed_ids(project)
    # every notify lists it with its id and says what to do
    code, out = cli(project, "notify")
    assert f"failed #{nid}" in out and "notify retry ID" in out
    assert WEBHOOK_SECRET not in out

    monkeypatch.setenv("OPS_SLACK_WEBHOOK", slack.webhook_url)  # fixed
    code, out = cli(project, "notify", "retry", str(nid))
    assert code == 0 and f"#{nid} delivered" in out, out
    assert len(slack.messages) == 1
    assert failed_ids(project) == []
    code, out = cli(project, "notify", "retry", str(nid))
    assert code == 2 and "is delivered" in out


def test_retry_all_failed_and_drop(project: Path, slack: FakeSlack, db_url: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_SLACK_WEBHOOK", slack.webhook_url + "-revoked")
    assert cli(project, "digest", "--send", "--days", "7")[0] == 1
    assert cli(project, "digest", "--send", "--days", "3")[0] == 1
    first, second = sorted(failed_ids(project))
    code, out = cli(project, "notify", "drop", str(first))
    assert code == 0 and f"dropped notification #{first}" in out
    assert failed_ids(project) == [second]
    assert cli(project, "notify", "drop", str(first))[0] == 2
    assert cli(project, "notify", "drop", "999")[0] == 2
    monkeypatch.setenv("OPS_SLACK_WEBHOOK", slack.webhook_url)
    code, out = cli(project, "notify", "retry", "--all-failed")
    assert code == 0 and f"#{second} delivered" in out
    assert len(slack.messages) == 1  # the dropped one is never sent
    code, out = cli(project, "notify", "--json")
    body = json.loads(out)
    assert body["counts"] == {"delivered": 1, "dropped": 1} and body["pending"] == 0
    store = Store(make_engine(db_url))
    assert store.notification(first).status == "dropped"  # kept for the record
    store.engine.dispose()
    code, out = cli(project, "notify", "retry")
    assert code == 2 and "--all-failed" in out


def test_the_digest_reports_notifications_that_failed_in_its_period(
        project: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_SLACK_WEBHOOK", slack.webhook_url + "-revoked")
    assert cli(project, "digest", "--send", "--days", "2")[0] == 1
    (nid,) = failed_ids(project)
    code, out = cli(project, "digest", "--json")
    payload = json.loads(out)
    (failed,) = payload["failed_notifications"]
    assert failed["id"] == nid and failed["kind"] == "digest" and "404" in failed["error"]
    code, out = cli(project, "digest")
    assert "notifications that failed permanently in this period: 1" in out
    assert f"#{nid} digest" in out
    html = project.parent / "d.html"
    assert cli(project, "digest", "--html", str(html))[0] == 0
    assert "Notifications that failed permanently (1)" in html.read_text()
