"""What an alert says, and that it always fits Slack: at most 50 blocks, 3,000 characters a
section, 150 a header; what is cut says so. The console channel prints the same content."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from drift_monitor.alerting.channels import channel_names
from drift_monitor.alerting.channels.console import ConsoleChannel
from drift_monitor.alerting.channels.slack import blocks as bk
from drift_monitor.alerting.message import alert_payload
from drift_monitor.alerting.outbox import deliver
from drift_monitor.config import Config
from drift_monitor.detection.findings import DIMENSIONS
from drift_monitor.detection.result import CheckResult
from drift_monitor.storage.queries import Store
from drift_monitor.storage.rows import IncidentRow
from tests.alerting.conftest import Clock, finding, make_config, record_check
from tests.fakes.slack import FakeSlack

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def incident(i: int, dimension: str) -> IncidentRow:
    return IncidentRow(id=i, target_id=1, dimension=dimension, status="open",
                       severity="critical", summary="s", finding_keys=[], notified_keys=[],
                       notified_severity=None, notified_channels=None, opened_at=NOW,
                       updated_at=NOW)


def assert_within_slack_limits(blocks: list[dict]) -> None:
    assert len(blocks) <= 50
    for b in blocks:
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= 3000
            assert len(b.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in b.get("fields", []))
        if b["type"] == "context":
            assert len(b["elements"]) <= 10


def test_huge_examples_and_many_findings_stay_within_slack_limits(
        webhook_config: Config, slack: FakeSlack) -> None:
    huge = {"probe": "coding/two-sum@abc", "before": "x = 1\n" * 200_000,
            "after": "```python\n" + "y" * 1_000_000}
    items = [(incident(i, dim), "first_notification",
              [finding(dimension=dim, metric=f"metric_{j}", examples=[huge],
                       drifted_probes=tuple(f"s/probe-{k}@v" for k in range(300)))
               for j in range(30)])
             for i, dim in enumerate(DIMENSIONS)]
    result = CheckResult(target="t" * 300, findings=[], baseline_runs=[1], window_runs=[2])
    payload = alert_payload(result, items, NOW)
    assert len(json.dumps(payload)) < 200_000, "the outbox row is bounded too"
    blocks = bk.alert_blocks(payload)
    assert_within_slack_limits(blocks)
    text = json.dumps(blocks)
    assert "truncated" in text, "a cut example says it was cut"
    assert "more blocks left out" in blocks[-1]["text"]["text"]
    assert "more findings" in text and "and 295 more" in text

    from drift_monitor.alerting.channels.slack import SlackChannel

    SlackChannel(webhook_config).send(payload)
    (posted,) = slack.messages
    assert_within_slack_limits(posted["blocks"])
    assert len(posted["text"]) <= 1000


def test_example_code_cannot_break_out_of_its_block_or_mention_everyone() -> None:
    ex = {"probe": "p", "before": "plain", "after": "```python\nprint('<!channel> & <@U1>')\n```"}
    items = [(incident(1, "formatting"), "first_notification", [finding(examples=[ex])])]
    payload = alert_payload(CheckResult(target="bot"), items, NOW)
    after = next(b["text"]["text"] for b in bk.alert_blocks(payload)
                 if b["type"] == "section" and b["text"]["text"].startswith("*after:*"))
    assert after.count("```") == 2, "only the block's own fences remain"
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in after and "<!channel>" not in after


def test_a_reported_model_change_is_named_and_a_silent_one_is_called_silent() -> None:
    items = [(incident(1, "formatting"), "first_notification", [finding()])]
    silent = alert_payload(CheckResult(target="bot"), items, NOW)
    assert "did not change: this is a silent update" in json.dumps(bk.alert_blocks(silent))
    meta = finding(dimension="metadata", metric="model_returned", severity="warning")
    meta = meta.with_(baseline="gpt-4o-2024-05-13", current="gpt-4o-2024-08-06")
    reported = alert_payload(CheckResult(target="bot", model_string_changed=True,
                                         findings=[meta]), items, NOW)
    assert ("model string changed (gpt-4o-2024-05-13 -&gt; gpt-4o-2024-08-06): this is a "
            "reported model change") in json.dumps(bk.alert_blocks(reported))


def test_without_slack_alerts_go_to_the_console(tmp_path: Path, sqlite_store: Store,
                                                clock: Clock) -> None:
    config = make_config(tmp_path)
    assert channel_names(config) == ["console"]
    record_check(config, sqlite_store, [finding()], clock)
    out = io.StringIO()
    report = deliver(config, sqlite_store, now=clock,
                     channels={"console": ConsoleChannel(stream=out)})
    assert report.delivered == 1
    text = out.getvalue()
    assert text.startswith("DRIFT on support-bot: formatting changed (critical), since "
                           "2026-03-02 09:00 UTC [new]")
    for expected in ("silent update", "code_fence_rate: code_fence_rate moved in suite coding",
                     "2% -> 81%, q = 4.0e-08", "probes: fizzbuzz, two-sum",
                     "Example (two-sum, code_fence_rate), before:",
                     "If the new behaviour is fine: drift-monitor baseline accept --target "
                     "support-bot"):
        assert expected in text, expected


def test_resolution_and_acceptance_messages_name_the_incidents(
        tmp_path: Path, sqlite_store: Store, clock: Clock) -> None:
    config = make_config(tmp_path)
    record_check(config, sqlite_store, [finding()], clock)
    clock.advance(hours=2)
    record_check(config, sqlite_store, [], clock)
    resolved = sqlite_store.notifications()[0].payload
    blocks = bk.closed_blocks(resolved)
    assert blocks[0]["text"]["text"] == ":white_check_mark: Resolved on support-bot: formatting"
    assert "open from 2026-03-02 09:00 UTC to 2026-03-02 11:00 UTC" in blocks[2]["text"]["text"]
