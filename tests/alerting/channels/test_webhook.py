"""The generic webhook channel against a loopback receiver that verifies every signature the
Standard Webhooks way: alerts, resolutions, acceptances and digests all arrive signed, retries
keep their id, faults are classified, and no secret leaves the process."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from drift_monitor.alerting.channels.webhook import WebhookChannel
from drift_monitor.alerting.incidents import accept_hook
from drift_monitor.alerting.outbox import deliver
from drift_monitor.app.digest import build_digest, queue_digest
from drift_monitor.config import Config
from drift_monitor.errors import ConfigError
from drift_monitor.storage.queries import Store
from tests.alerting.conftest import Clock, db_dump, finding, free_port, make_config, record_check
from tests.fakes.receivers import WEBHOOK_SECRET, Fault, WebhookReceiver

HOOK = "  webhook: {url_env: TEST_HOOK_URL, secret_env: TEST_HOOK_SECRET, timeout_s: 2}\n"
URL_TOKEN = "hookPathToken0987secret"


@pytest.fixture
def receiver() -> WebhookReceiver:
    server = WebhookReceiver().start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def config(tmp_path: Path, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("TEST_HOOK_URL", f"{receiver.url}?token={URL_TOKEN}")
    monkeypatch.setenv("TEST_HOOK_SECRET", WEBHOOK_SECRET)
    return make_config(tmp_path, HOOK)


def statuses(store: Store) -> list[tuple[str, int]]:
    return [(n.status, n.attempts) for n in reversed(store.notifications())]


def test_every_message_arrives_signed_and_the_receiver_verifies_each(
        config: Config, store: Store, receiver: WebhookReceiver, clock: Clock) -> None:
    record_check(config, store, [finding()], clock)  # opens: an alert
    clock.advance(hours=1)
    record_check(config, store, [], clock)  # a clean check: resolved
    clock.advance(hours=1)
    record_check(config, store, [finding(dimension="tone", metric="sentiment_mean",
                                         severity="warning")], clock)
    tid = store.target_id("support-bot")
    assert tid is not None
    run = store.create_run(tid, 1)  # baseline accept closes the tone incident
    hook = accept_hook(config, store, "support-bot", tid, now=clock)
    with store.transaction() as tx:
        hook(tx, tx.pin_baseline(tid, [run], reason="accept"), [run])
    queue_digest(config, store, build_digest(config, store, now=clock), now=clock)
    report = deliver(config, store, now=clock)
    assert report.delivered == 5 and report.pending == 0
    assert receiver.rejected == [] and len(receiver.verified) == 5
    kinds = [m["type"] for m in receiver.messages()]
    assert kinds == ["drift_monitor.alert", "drift_monitor.resolved", "drift_monitor.alert",
                     "drift_monitor.accepted", "drift_monitor.digest"]
    alert = receiver.messages()[0]
    assert alert["data"]["target"] == "support-bot"
    assert alert["data"]["incidents"][0]["findings"][0]["metric"] == "code_fence_rate"
    assert alert["text"].startswith("DRIFT on support-bot: formatting changed (critical)")
    ids = [r.headers["webhook-id"] for r in receiver.verified]
    assert len(set(ids)) == 5, "each message has its own id"


def test_a_retry_keeps_the_id_and_signs_its_own_timestamp(
        config: Config, sqlite_store: Store, receiver: WebhookReceiver, clock: Clock) -> None:
    record_check(config, sqlite_store, [finding()], clock)
    receiver.fail_next(Fault(503, "deploying"))
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "retry" and "HTTP 503" in (a.error or "")
    clock.advance(seconds=30)
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert receiver.rejected == [] and len(receiver.verified) == 1
    assert statuses(sqlite_store) == [("delivered", 2)]


def test_a_receiver_with_another_secret_rejects_it_and_the_failure_is_permanent(
        tmp_path: Path, sqlite_store: Store, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    other = WebhookReceiver(secret="a-different-shared-secret").start()
    try:
        monkeypatch.setenv("TEST_HOOK_URL", other.url)
        monkeypatch.setenv("TEST_HOOK_SECRET", WEBHOOK_SECRET)
        config = make_config(tmp_path, HOOK)
        record_check(config, sqlite_store, [finding()], clock)
        (a,) = deliver(config, sqlite_store, now=clock).attempts
        assert a.outcome == "failed" and "HTTP 401" in (a.error or "")
        assert "no signature matches" in (a.error or "")
        assert deliver(config, sqlite_store, now=clock).attempts == []
        assert len(other.received) == 1, "a permanent failure is never retried"
        (failed,) = sqlite_store.notifications(status="failed")
        assert failed.channel == "webhook"
    finally:
        other.stop()


def test_a_plain_secret_is_used_as_its_bytes(tmp_path: Path, sqlite_store: Store, clock: Clock,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    plain = WebhookReceiver(secret="correct horse battery staple").start()
    try:
        monkeypatch.setenv("TEST_HOOK_URL", plain.url)
        monkeypatch.setenv("TEST_HOOK_SECRET", "correct horse battery staple")
        config = make_config(tmp_path, HOOK)
        record_check(config, sqlite_store, [finding()], clock)
        assert deliver(config, sqlite_store, now=clock).delivered == 1
        assert len(plain.verified) == 1
    finally:
        plain.stop()


@pytest.mark.parametrize(("fault", "outcome", "wait"), [
    (Fault(429, "slow down", {"Retry-After": "120"}), "retry", 120),
    (Fault(500, "oops"), "retry", 30),
    (Fault(408, "timeout"), "retry", 30),
    (Fault(404, "no such hook"), "failed", None),
    (Fault(410, "gone"), "failed", None),
    (Fault(302, "", {"Location": "http://127.0.0.1:9/elsewhere"}), "failed", None),
])
def test_answers_are_classified_temporary_or_permanent(
        fault: Fault, outcome: str, wait: float | None, config: Config, sqlite_store: Store,
        receiver: WebhookReceiver, clock: Clock) -> None:
    record_check(config, sqlite_store, [finding()], clock)
    receiver.fail_next(fault)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == outcome and f"HTTP {fault.status}" in (a.error or "")
    if wait is not None:
        assert a.next_attempt_at is not None
        assert (a.next_attempt_at - clock.t).total_seconds() == wait
    assert len(receiver.received) == 1, "a redirect is never followed"


def test_a_receiver_that_is_down_delays_but_never_loses_the_message(
        tmp_path: Path, sqlite_store: Store, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("TEST_HOOK_URL", f"http://127.0.0.1:{port}/hooks/drift")
    monkeypatch.setenv("TEST_HOOK_SECRET", WEBHOOK_SECRET)
    config = make_config(tmp_path, HOOK)
    record_check(config, sqlite_store, [finding()], clock)
    (a,) = deliver(config, sqlite_store, now=clock).attempts
    assert a.outcome == "retry" and "ConnectError" in (a.error or "")
    assert statuses(sqlite_store) == [("pending", 1)]


def test_a_malformed_whsec_secret_is_a_config_error(config: Config,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", "whsec_not base64!")
    with pytest.raises(ConfigError, match="TEST_HOOK_SECRET: a whsec_ secret must be base64"):
        WebhookChannel(config)


def test_no_secret_reaches_the_database_logs_or_messages(
        config: Config, sqlite_store: Store, receiver: WebhookReceiver, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every request's URL at INFO
    record_check(config, sqlite_store, [finding()], clock)
    receiver.fail_next(Fault(500, "oops"))
    deliver(config, sqlite_store, now=clock)
    clock.advance(minutes=1)
    assert deliver(config, sqlite_store, now=clock).delivered == 1
    assert "HTTP Request: POST" in caplog.text, "httpx's request log was exercised"
    sent = "\n".join(r.body.decode() + repr(r.headers) for r in receiver.received)
    for secret in (URL_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")):
        assert secret not in db_dump(sqlite_store), "secret in the database"
        assert secret not in caplog.text, "secret in the logs"
    for secret in (WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")):
        assert secret not in sent, "secret in a message"
    assert URL_TOKEN not in repr(WebhookChannel(config))
