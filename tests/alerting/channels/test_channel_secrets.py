"""A malformed webhook URL is a permanent failure that never quotes the URL (issue 13,
finding 5): urllib's ``unknown url type: '<the URL>'`` used to reach the terminal as a
traceback and the alert was retried for ever as "unexpected ValueError"."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.alerting.test_cli_alerting import cli, project, silent_update  # noqa: F401
from tests.fakes.slack import FakeSlack

BROKEN = "hooks-slack-com/services/T000SECRET/B000SECRET/XXXXSECRETXXXX"


@pytest.mark.slow  # replays whole probe rounds through the CLI: seconds
@pytest.mark.parametrize("url", [BROKEN, "ftp://" + BROKEN, "https//" + BROKEN])
def test_a_malformed_webhook_url_fails_permanently_without_quoting_it(
        project: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        caplog: pytest.LogCaptureFixture, url: str) -> None:
    caplog.set_level(logging.DEBUG)
    silent_update(project)
    assert cli(project, "check")[0] == 1
    monkeypatch.setenv("E2E_SLACK_WEBHOOK", url)
    code, out = cli(project, "notify")
    assert code == 1, out
    assert "failed permanently" in out and "0 pending" in out, out
    assert "Traceback" not in out and "unexpected" not in out
    assert "SECRET" not in out + caplog.text
    code, out = cli(project, "notify")  # not retried: nothing left to try
    assert code == 0 and "0 delivered now; 0 pending" in out, out
    assert slack.messages == []
