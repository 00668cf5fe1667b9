"""Delivering alerts to a real loopback Slack: webhook and Web API, through 429 with
Retry-After, 500s, permanent errors, refused connections and a slow server. No alert is lost, none
is retried forever, and no secret reaches the database, the logs or a message."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator
from sqlalchemy import MetaData, select

from drift_monitor.alerting.channels.slack import SlackChannel
from drift_monitor.alerting.outbox import deliver
from drift_monitor.config import Config
from drift_monitor.errors import ConfigError
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import API, Clock, finding, make_config, record_check
from tests.fakes.slack import BOT_TOKEN, WEBHOOK_SECRET, FakeSlack, Reply


def queue_alert(config: Config, store: Store, clock: Clock, **kw: object) -> None:
    record_check(config, store, [finding(**kw)], clock)  # type: ignore[arg-type]


def fast(config: Config, **kw: object) -> dict[str, SlackChannel]:
    """A Slack channel whose in-process backoff is short and whose waits are recorded."""
    waits: list[float] = []
    channel = SlackChannel(config, retry_interval=FixedValueRetryIntervalCalculator(0.01),
                           sleep=waits.append, **kw)  # type: ignore[arg-type]
    channel.waits = waits  # type: ignore[attr-defined]
    return {"slack": channel}


def statuses(store: Store) -> list[tuple[str, int]]:
    return [(n.status, n.attempts) for n in reversed(store.notifications())]


def test_webhook_alert_arrives_once_as_block_kit(webhook_config: Config, sqlite_store: Store,
                                                 slack: FakeSlack, clock: Clock) -> None:
    queue_alert(webhook_config, sqlite_store, clock)
    report = deliver(webhook_config, sqlite_store, now=clock)
    assert report.delivered == 1 and report.pending == 0
    assert deliver(webhook_config, sqlite_store, now=clock).attempts == []
    (message,) = slack.messages
    text = json.dumps(message["blocks"], ensure_ascii=False)
    assert message["blocks"][0]["type"] == "header"
    assert "Drift on support-bot: formatting" in message["blocks"][0]["text"]["text"]
    for expected in ("code_fence_rate", "2% → 81%", "q = 4.0e-08", "since *2026-03-02 09:00 UTC",
                     "did not change: this is a silent update", "`two-sum`", "`fizzbuzz`",
                     "*before:*", "*after:*", "drift-monitor baseline accept --target support-bot"):
        assert expected in text, expected
    assert message["text"].startswith("DRIFT on support-bot: formatting changed (critical)")


def test_rate_limit_waits_for_retry_after_then_delivers(webhook_config: Config,
                                                        sqlite_store: Store, slack: FakeSlack,
                                                        clock: Clock) -> None:
    queue_alert(webhook_config, sqlite_store, clock)
    slack.fail_next(Reply(429, "rate_limited", {"Retry-After": "2"}))
    channels = fast(webhook_config)
    report = deliver(webhook_config, sqlite_store, now=clock, channels=channels)
    assert report.delivered == 1
    assert 2.0 <= channels["slack"].waits[0] < 2.2  # type: ignore[attr-defined]
    assert len(slack.posts("/services/")) == 2 and len(slack.messages) == 1


def test_a_long_retry_after_is_left_to_the_outbox(webhook_config: Config, sqlite_store: Store,
                                                  slack: FakeSlack, clock: Clock) -> None:
    queue_alert(webhook_config, sqlite_store, clock)
    slack.fail_next(Reply(429, "rate_limited", {"Retry-After": "600"}))
    channels = fast(webhook_config)
    report = deliver(webhook_config, sqlite_store, now=clock, channels=channels)
    (attempt,) = report.attempts
    assert attempt.outcome == "retry" and report.pending == 1
    assert attempt.next_attempt_at is not None
    assert (attempt.next_attempt_at - clock.t).total_seconds() == 600
    assert channels["slack"].waits == []  # type: ignore[attr-defined]
    # the daemon's way skips it until then; the next due run delivers it
    assert deliver(webhook_config, sqlite_store, now=clock, due_only=True).attempts == []
    clock.advance(seconds=600)
    assert deliver(webhook_config, sqlite_store, now=clock, due_only=True).delivered == 1
    assert len(slack.messages) == 1


def test_slack_outage_delays_but_never_loses_the_alert(webhook_config: Config,
                                                       sqlite_store: Store, slack: FakeSlack,
                                                       clock: Clock) -> None:
    queue_alert(webhook_config, sqlite_store, clock)
    slack.fail_next(*[Reply(500, "rollup_error")] * 3)  # first try + 2 quick retries
    report = deliver(webhook_config, sqlite_store, now=clock, channels=fast(webhook_config))
    assert report.pending == 1 and slack.messages == []
    assert statuses(sqlite_store) == [("pending", 1)]
    assert "HTTP 500" in (sqlite_store.notifications()[0].last_error or "")
    clock.advance(seconds=30)
    report = deliver(webhook_config, sqlite_store, now=clock, channels=fast(webhook_config))
    assert report.delivered == 1 and len(slack.messages) == 1
    assert statuses(sqlite_store) == [("delivered", 2)]


def test_backoff_grows_between_temporary_failures(webhook_config: Config, sqlite_store: Store,
                                                  slack: FakeSlack, clock: Clock) -> None:
    queue_alert(webhook_config, sqlite_store, clock)
    waits = []
    for _ in range(3):
        slack.fail_next(*[Reply(503, "down")] * 3)
        (a,) = deliver(webhook_config, sqlite_store, now=clock, due_only=True,
                       channels=fast(webhook_config)).attempts
        assert a.next_attempt_at is not None
        waits.append((a.next_attempt_at - clock.t).total_seconds())
        clock.t = a.next_attempt_at
    assert waits == [30, 60, 120]


@pytest.mark.parametrize("case", ["webhook 404 no_service", "webhook 403 invalid_token",
                                  "api invalid_auth", "api channel_not_found"])
def test_permanent_errors_are_marked_failed_and_never_retried(
        case: str, tmp_path: Path, sqlite_store: Store, slack: FakeSlack, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if case == "webhook 404 no_service":
        monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.webhook_url.replace(WEBHOOK_SECRET,
                                                                           "revoked"))
        config = make_config(tmp_path, "  slack: {webhook_url_env: TEST_SLACK_WEBHOOK}\n")
    elif case == "webhook 403 invalid_token":
        monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.webhook_url)
        config = make_config(tmp_path, "  slack: {webhook_url_env: TEST_SLACK_WEBHOOK}\n")
        slack.fail_next(Reply(403, "invalid_token"))
    else:
        token, channel = ((BOT_TOKEN + "-revoked", "#drift") if case == "api invalid_auth"
                          else (BOT_TOKEN, "#nope"))
        monkeypatch.setenv("TEST_SLACK_TOKEN", token)
        config = make_config(tmp_path, API.format(channel=channel, url=slack.api_base_url))
    queue_alert(config, sqlite_store, clock)
    report = deliver(config, sqlite_store, now=clock)
    (attempt,) = report.attempts
    expected = case.split()[-1]
    assert attempt.outcome == "failed" and expected in (attempt.error or "")
    assert "failed permanently" in attempt.describe() and report.pending == 0
    requests = len(slack.received)
    assert deliver(config, sqlite_store, now=clock).attempts == []
    assert len(slack.received) == requests, "a permanent failure is never retried"
    assert statuses(sqlite_store) == [("failed", 1)]


def test_refused_connection_keeps_the_alert_until_slack_is_back(
        tmp_path: Path, sqlite_store: Store, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TEST_SLACK_WEBHOOK",
                       f"http://127.0.0.1:{port}/services/T0000/B0000/{WEBHOOK_SECRET}")
    config = make_config(tmp_path, "  slack: {webhook_url_env: TEST_SLACK_WEBHOOK}\n")
    queue_alert(config, sqlite_store, clock)
    (attempt,) = deliver(config, sqlite_store, now=clock, channels=fast(config)).attempts
    assert attempt.outcome == "retry" and "Connection refused" in (attempt.error or "")
    server = FakeSlack(port).start()
    try:
        assert deliver(config, sqlite_store, now=clock, channels=fast(config)).delivered == 1
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_a_slow_server_times_out_and_the_alert_is_delivered_later(
        webhook_config: Config, sqlite_store: Store, slack: FakeSlack, clock: Clock) -> None:
    queue_alert(webhook_config, sqlite_store, clock)
    slack.delay = 2.5
    (attempt,) = deliver(webhook_config, sqlite_store, now=clock,
                         channels=fast(webhook_config, timeout=1)).attempts
    assert attempt.outcome == "retry" and "timed out" in (attempt.error or "")
    slack.delay = 0
    assert deliver(webhook_config, sqlite_store, now=clock,
                   channels=fast(webhook_config, timeout=1)).delivered == 1
    # at-least-once: the slow answer may also have been taken; the alert is never lost
    assert len(slack.messages) >= 1


def test_a_failing_channel_is_not_hammered_within_one_run(webhook_config: Config,
                                                          sqlite_store: Store, slack: FakeSlack,
                                                          clock: Clock) -> None:
    for target in ("a", "b", "c"):
        record_check(webhook_config, sqlite_store, [finding()], clock, target=target)
    slack.fail_next(*[Reply(500, "down")] * 3)
    report = deliver(webhook_config, sqlite_store, now=clock, channels=fast(webhook_config))
    assert [a.outcome for a in report.attempts] == ["retry", "deferred", "deferred"]
    assert len(slack.received) == 3 and report.pending == 3
    assert deliver(webhook_config, sqlite_store, now=clock).delivered == 3


def test_web_api_posts_with_the_token_to_the_overridden_base_url(
        api_config: Config, sqlite_store: Store, slack: FakeSlack, clock: Clock) -> None:
    queue_alert(api_config, sqlite_store, clock)
    assert deliver(api_config, sqlite_store, now=clock).delivered == 1
    (post,) = slack.posts("/api/chat.postMessage")
    assert post.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    (message,) = slack.messages
    assert message["channel"] == "#drift" and message["blocks"][0]["type"] == "header"


def test_web_api_rate_limit_and_server_errors_are_temporary(
        api_config: Config, sqlite_store: Store, slack: FakeSlack, clock: Clock) -> None:
    queue_alert(api_config, sqlite_store, clock)
    slack.fail_next(Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "90"}))
    (a,) = deliver(api_config, sqlite_store, now=clock, channels=fast(api_config)).attempts
    assert a.outcome == "retry" and "ratelimited" in (a.error or "")
    slack.fail_next(Reply(200, {"ok": False, "error": "internal_error"}))
    (a,) = deliver(api_config, sqlite_store, now=clock, channels=fast(api_config)).attempts
    assert a.outcome == "retry" and "internal_error" in (a.error or "")
    assert deliver(api_config, sqlite_store, now=clock).delivered == 1
    assert len(slack.messages) == 1


def test_a_missing_secret_is_a_config_error_that_leaves_the_outbox_untouched(
        tmp_path: Path, sqlite_store: Store, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SLACK_WEBHOOK", raising=False)
    config = make_config(tmp_path, "  slack: {webhook_url_env: TEST_SLACK_WEBHOOK}\n")
    queue_alert(config, sqlite_store, clock)
    with pytest.raises(ConfigError, match="TEST_SLACK_WEBHOOK is not set"):
        deliver(config, sqlite_store, now=clock)
    assert statuses(sqlite_store) == [("pending", 0)]
    assert sqlite_store.notifications()[0].claimed_until is None


def test_no_secret_reaches_the_database_logs_or_messages(
        tmp_path: Path, sqlite_store: Store, slack: FakeSlack, clock: Clock,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the worst case: slack-sdk logs URLs and bodies at debug
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.webhook_url)
    monkeypatch.setenv("TEST_SLACK_TOKEN", BOT_TOKEN)
    hook = make_config(tmp_path, "  slack: {webhook_url_env: TEST_SLACK_WEBHOOK}\n")
    api = make_config(tmp_path / "..", API.format(channel="#drift", url=slack.api_base_url))
    for config, target in ((hook, "hook-bot"), (api, "api-bot")):
        record_check(config, sqlite_store, [finding()], clock, target=target)
        slack.fail_next(Reply(500, "down"), Reply(500, "down"), Reply(500, "down"))
        deliver(config, sqlite_store, now=clock, channels=fast(config))
        deliver(config, sqlite_store, now=clock, channels=fast(config))
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", slack.webhook_url + "-revoked")  # a 404 path
    record_check(hook, sqlite_store, [finding()], clock, target="revoked-bot")
    assert deliver(hook, sqlite_store, now=clock).failed == 1
    assert "Sending a request - url:" in caplog.text, "slack-sdk's debug log was exercised"

    dump = []
    meta = MetaData()
    meta.reflect(sqlite_store.engine)
    with sqlite_store.engine.connect() as conn:
        for table in meta.sorted_tables:
            dump += [repr(tuple(r)) for r in conn.execute(select(table))]
    bodies = [r.body.decode(errors="replace") for r in slack.received]
    for secret in (WEBHOOK_SECRET, BOT_TOKEN):
        assert secret not in "\n".join(dump), "secret in the database"
        assert secret not in caplog.text, "secret in the logs"
        assert secret not in "\n".join(bodies), "secret in a message"
    assert len(slack.messages) == 2
